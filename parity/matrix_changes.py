"""The TF release matrix's tables, from per-release results (no TensorFlow, no NumPy).

:mod:`parity.matrix_worker` runs the parity suite inside one TF release's environment and writes
what every (function, case) gave there: an *observation*, a plain dict::

    {"status": "pass" | "fail" | "release" | "declared" | "skip" | "crash" | "unavailable" | "error",
     "tf":     outcome or None,      # what that TF release gave
     "tfloss": outcome or None,      # what tfloss (which reproduces TF 2.21) gave
     "detail": "...",                # the runner's verdict text
     "inputs": "..."}                # the case's inputs, in words

    outcome = {"raised": True, "error": "tf.errors.InvalidArgumentError", "message": "..."}
            | {"raised": False, "outputs": [{"dtype": "float32", "shape": [2], "preview": "[0.1 0.2]",
                                             "digest": "ab12..."} or None, ...]}

``pass`` and ``declared`` mean the release behaves as tfloss, hence as TF 2.21 (a declared
difference is tfloss's, the same against every release); ``fail``/``release`` mean it differs;
``crash`` that TF killed the interpreter; ``unavailable`` that the release lacks the function;
``error`` that the harness could not run the case there.  A release that did not compare a
function at all (Keras 2 behind ``tf.keras``) has no observation for it.

This module turns the observations of several releases into

* :func:`counts`: per release and function, the case counts;
* :func:`change_events`: every point where a (function, case) behaves differently in a release
  than in the previous installed one, classified by :func:`classify`;
* :func:`group_events`: those events folded into one row per kind of change;
* :func:`versus_reference`: per release, how many cases differ from 2.21, by kind.
"""

from __future__ import annotations

import re
from collections import defaultdict

#: Statuses meaning "behaves as tfloss, i.e. as TF 2.21".
AS_REFERENCE = ("pass", "declared")
#: Statuses where no TF outcome exists.
NO_OUTCOME = ("crash", "unavailable", "error")

KINDS = ("crash", "availability", "_sentinel handling", "error class", "error suffix", "error text",
         "raises vs returns", "gradient structure", "dtype rule", "shape rule", "values", "tfloss side")

_NUMBERS = re.compile(r"-?\d[\d.e+-]*")
_SENTINEL = re.compile(r"sentinel|named arguments|unnamed argument", re.I)


def version_key(release: str) -> tuple:
    """``"2.9"`` < ``"2.12"`` < ``"2.12.1"``: numeric order of a release string."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"[.]", release))


def blank_numbers(text: str) -> str:
    """``text`` with every number replaced by ``#`` (so alike messages group together)."""
    return _NUMBERS.sub("#", text or "")


def describe(outcome) -> str:
    """One line for what a side gave."""
    if outcome is None:
        return "(no outcome)"
    if outcome.get("raised"):
        return f"{outcome['error']}: {outcome.get('message')}"
    parts = []
    for out in outcome.get("outputs", ()):
        if out is None:
            parts.append("None")
        else:
            shape = ",".join(str(n) for n in out["shape"])
            parts.append(f"{out['dtype']}[{shape}] {out.get('preview', '')}".rstrip())
    return "returned " + "; ".join(parts)


def said(obs) -> str:
    """What a release gave for one observation, in words."""
    status = obs["status"]
    if status == "crash":
        return "crashed the interpreter"
    if status in ("unavailable", "error"):
        return f"{status}: {obs.get('detail', '')}"
    return describe(obs.get("tf"))


def _outcome_signature(outcome):
    if outcome is None:
        return ("none",)
    if outcome.get("raised"):
        return ("raised", outcome["error"], outcome.get("message"))
    return ("returned", tuple(None if o is None else (o["dtype"], tuple(o["shape"]), o["digest"])
                              for o in outcome.get("outputs", ())))


def signature(obs) -> tuple:
    """What identifies a behaviour: equal signatures in two releases mean "no change".

    A release that behaves as tfloss is the reference behaviour, whatever its bits within the
    suite's bound; a release that differs is identified by the outcome it gave.
    """
    status = obs["status"]
    if status in AS_REFERENCE:
        return ("reference",)
    if status == "crash":
        return ("crash",)
    if status in ("unavailable", "error"):
        return (status, blank_numbers(obs.get("detail", "")))
    return ("differs",) + _outcome_signature(obs.get("tf"))


def _mentions_sentinel(*outcomes) -> bool:
    return any(o is not None and o.get("raised") and _SENTINEL.search(o.get("message") or "") for o in outcomes)


def classify(before, after) -> str:
    """The kind of change between two observations of one (function, case); one of :data:`KINDS`."""
    if "crash" in (before["status"], after["status"]):
        return "crash"
    if before["status"] in NO_OUTCOME or after["status"] in NO_OUTCOME:
        return "availability"
    a, b = before.get("tf"), after.get("tf")
    if a is None or b is None:
        return "availability"
    if _mentions_sentinel(a, b):
        return "_sentinel handling"
    if a.get("raised") and b.get("raised"):
        if a["error"] != b["error"]:
            return "error class"
        if a.get("message") != b.get("message"):
            if _strip_name_suffix(a.get("message")) == _strip_name_suffix(b.get("message")):
                return "error suffix"  # only the trailing " name: " after [Op:...] (see note)
            return "error text"
        return "tfloss side"
    if a.get("raised") != b.get("raised"):
        return "raises vs returns"
    outs_a, outs_b = a.get("outputs", []), b.get("outputs", [])
    if len(outs_a) != len(outs_b) or [o is None for o in outs_a] != [o is None for o in outs_b]:
        return "gradient structure"
    pairs = [(x, y) for x, y in zip(outs_a, outs_b) if x is not None]
    if any(x["dtype"] != y["dtype"] for x, y in pairs):
        return "dtype rule"
    if any(list(x["shape"]) != list(y["shape"]) for x, y in pairs):
        return "shape rule"
    if any(x["digest"] != y["digest"] for x, y in pairs):
        return "values"
    return "tfloss side"  # TF gave the same; the verdict moved with tfloss's environment (NumPy)


_NUMPY_SCALAR = re.compile(r"np\.[a-z]+\d*\(([^()]*)\)")


def case_key(case_id: str) -> str:
    """A case id that is the same under NumPy 1 and 2: the catalogue names some cases by a
    value's repr, which NumPy 2 writes ``np.int32(1)`` and NumPy 1 ``1``."""
    return _NUMPY_SCALAR.sub(r"\1", case_id)


def by_case(results) -> dict:
    """``{(function, case): {release: observation}}`` from ``{release: {"observations": [...]}}``.

    Each observation in a release's list carries its ``function`` and ``case`` (the key uses
    :func:`case_key`).
    """
    table = defaultdict(dict)
    for release, result in results.items():
        for obs in result.get("observations", ()):
            table[(obs["function"], case_key(obs["case"]))][release] = obs
    return dict(table)


def counts(results) -> dict:
    """``{release: {function: {cases, passed, failed, declared, errors, crashes, unavailable, skipped, tf_raised}}}``.

    *failed* counts cases where the release differs from tfloss (``fail`` and ``release``),
    *errors* cases the harness could not run there, *tf_raised* cases where that TF raised.
    """
    out = {}
    for release, result in results.items():
        per = defaultdict(lambda: dict.fromkeys(
            ("cases", "passed", "failed", "declared", "errors", "crashes", "unavailable", "skipped", "tf_raised"), 0))
        for obs in result.get("observations", ()):
            row = per[obs["function"]]
            row["cases"] += 1
            status = obs["status"]
            key = {"pass": "passed", "fail": "failed", "release": "failed", "declared": "declared", "error": "errors",
                   "crash": "crashes", "unavailable": "unavailable", "skip": "skipped"}[status]
            row[key] += 1
            tf = obs.get("tf")
            row["tf_raised"] += bool(tf is not None and tf.get("raised"))
        out[release] = dict(per)
    return out


def change_events(results) -> list:
    """Every change of behaviour between consecutive releases that ran a (function, case).

    Returns dicts ``{function, case, kind, before, after, before_obs, after_obs}`` (``before`` and
    ``after`` are release strings), in function, case and release order.  Releases without an
    observation of a (function, case) are passed over: the change is then between the
    releases on either side.
    """
    events = []
    for (function, case), per_release in sorted(by_case(results).items()):
        ordered = sorted(per_release, key=version_key)
        for previous, current in zip(ordered, ordered[1:]):
            a, b = per_release[previous], per_release[current]
            if signature(a) != signature(b):
                events.append({"function": function, "case": case, "kind": classify(a, b),
                               "before": previous, "after": current, "before_obs": a, "after_obs": b})
    return events


#: The suffix TF's eager op errors carry after ``[Op:Name]`` in some releases (an empty op name).
NAME_SUFFIX = " name: "


def _strip_name_suffix(message: str | None) -> str:
    message = message or ""
    return message[: -len(NAME_SUFFIX)] if message.endswith(NAME_SUFFIX) else message


def note(before, after) -> str:
    """A canonical description of an error-text change that many ops share, or ``""``.

    ``"[Op:Name] vs [Op:Name] name: "``: the two messages differ only in the trailing
    ``" name: "`` after the op's ``[Op:...]`` tag.
    """
    a, b = before.get("tf"), after.get("tf")
    if not (a and b and a.get("raised") and b.get("raised")) or a["error"] != b["error"]:
        return ""
    ma, mb = a.get("message") or "", b.get("message") or ""
    if ma != mb and _strip_name_suffix(ma) == _strip_name_suffix(mb):
        ends = lambda m: "'[Op:Name] name: '" if m.endswith(NAME_SUFFIX) else "'[Op:Name]'"  # noqa: E731
        return f"only the end of the eager op error differs: {ends(ma)} -> {ends(mb)}"
    return ""


def _shape_of_text(obs) -> str:
    """What groups alike changes: the outcome with numbers blanked (errors), or the output dtypes."""
    tf = obs.get("tf")
    if obs["status"] in NO_OUTCOME or tf is None:
        return obs["status"] + ": " + blank_numbers(obs.get("detail", ""))[:120]
    if obs["status"] in AS_REFERENCE:
        prefix = "as 2.21: "
    else:
        prefix = ""
    if tf.get("raised"):
        return prefix + tf["error"] + ": " + blank_numbers(_strip_name_suffix(tf.get("message")))[:120]
    return prefix + "returned " + ",".join("None" if o is None else o["dtype"] for o in tf.get("outputs", ()))


def group_events(events) -> list:
    """Fold alike events into rows, largest first.

    Events are alike when they have the same kind, the same pair of releases and the same
    before/after outcome once numbers (and a trailing ``" name: "``) are blanked (for values: the
    same output dtypes), or share a :func:`note`; crashes by the pair of releases and the side
    that crashed alone.  A row:
    ``{kind, before, after, count, note, functions, example}``; the example is the event whose inputs
    are described most briefly.
    """
    groups = defaultdict(list)
    for e in events:
        shared = note(e["before_obs"], e["after_obs"])
        if e["kind"] == "crash":  # one row per pair of releases and the side that crashed
            sides = (e["before_obs"]["status"] == "crash", e["after_obs"]["status"] == "crash")
            key = (e["kind"], e["before"], e["after"], shared, *sides)
        else:
            key = (e["kind"], e["before"], e["after"], shared,
                   "" if shared else _shape_of_text(e["before_obs"]), "" if shared else _shape_of_text(e["after_obs"]))
        groups[key].append(e)
    rows = []
    for (kind, before, after, shared, _, _), group in groups.items():
        example = min(group, key=lambda e: (len(e["before_obs"].get("inputs", "")), e["function"], e["case"]))
        rows.append({"kind": kind, "before": before, "after": after, "count": len(group), "note": shared,
                     "functions": sorted({e["function"] for e in group}), "example": example})
    rows.sort(key=lambda r: (version_key(r["before"]), version_key(r["after"]), KINDS.index(r["kind"]), -r["count"]))
    return rows


def versus_reference(results, reference: str | None = None) -> dict:
    """``{release: {kind: count}}``: how each release's cases differ from TF 2.21.

    ``reference`` names the 2.21 release among ``results`` (its observation is the 2.21
    behaviour); without it, a case's reference is tfloss's own outcome in that release.
    """
    table = by_case(results)
    out = {release: defaultdict(int) for release in results}
    for per_release in table.values():
        ref = per_release.get(reference) if reference else None
        for release, obs in per_release.items():
            if release == reference or signature(obs) == ("reference",):
                continue
            base = ref if ref is not None else {"status": "pass", "tf": obs.get("tfloss")}
            out[release][classify(obs, base) if signature(obs) != signature(base) else "tfloss side"] += 1
    return {release: dict(kinds) for release, kinds in out.items()}
