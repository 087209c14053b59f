"""TF's recorded results: one columnar ``.npz`` of bit views and a JSON manifest.

``make golden`` (``python -m parity.record``) runs every catalogue case on every public function
in real TensorFlow and stores what TF did, in ``tfloss/conformance/golden/``:

``tf<version>.npz``
    Every returned array once (identical arrays are stored once), as unsigned-int bit views
    concatenated per element width (``bits8``, ``bits16`` for float16 and bfloat16, ``bits32``,
    ``bits64``), with tables of dtypes, shapes and offsets; per run, its outputs (an array,
    ``None``, or a digest) or its error (class and message).  NaN payloads and signed zeros
    survive because nothing is ever read as a float on the way.
``tf<version>.json``
    The manifest: TF's version, the CPU and its features, the softmax kernel TF ran per dtype,
    the mode, a hash of the catalogue (every run id and every input bit), run counts per
    function and dtype, and the npz's sha256.
``tf<version>-<kernels>.npz`` and ``.json``
    A supplement (``make golden-kernels``): only the runs whose result depends on TF's softmax
    kernel (:data:`~tfloss.conformance.declared.KERNEL_DEPENDENT`), recorded on a CPU where TF
    runs the other kernels, e.g. ``tf2.21.0-onednn`` on an AVX-512 CPU with oneDNN on when the
    main recording ran Eigen's.  Its manifest lists the functions it covers; a replay takes each
    such run from the recording whose kernels this CPU runs (:meth:`Golden.recordings`).

The large cases (hundreds of thousands of elements, vocabulary-sized rows) would not fit in the
size budget, so for them the file keeps each output's dtype, shape and sha256 digest plus
:data:`SAMPLE` elements at fixed positions: equal digests prove a bit-exact result; otherwise
the sampled elements are judged by the usual rules and the verdict says it was sampled.

:func:`load` checks the npz's checksum, the catalogue hash and the counts against the catalogue
this tfloss generates, so recorded results can never be silently replayed against other inputs.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from pathlib import Path

import numpy as np

from .compare import FLOAT_DTYPES, Digest, Outcome, digest, sample_positions

FORMAT_VERSION = 1

#: Where the recorded results live inside the package.
DATA_DIR = Path(__file__).resolve().parent / "golden"

#: The TF release the shipped results come from.
RECORDED_TF = "2.21.0"

#: Elements kept of each output of a large case (besides its digest).
SAMPLE = 64

_UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


class GoldenError(Exception):
    """The recorded results are missing, damaged, or stale against the catalogue."""


def _dtype(name: str) -> np.dtype:
    return FLOAT_DTYPES[name] if name in FLOAT_DTYPES else np.dtype(name)


def _bits(array: np.ndarray) -> np.ndarray:
    """The array's bytes as unsigned ints of its element width (complex: of its part width)."""
    width = array.dtype.itemsize // 2 if array.dtype.kind == "c" else array.dtype.itemsize
    return np.ascontiguousarray(array.reshape(-1)).view(_UINT[width])


def _hash_value(h, value):
    if isinstance(value, np.ndarray):
        h.update(f"nd{value.dtype.name}{value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes() if value.dtype.kind not in "OUS" else repr(value.tolist()).encode())
    elif isinstance(value, (list, tuple)):
        h.update(f"seq{len(value)}".encode())
        for v in value:
            _hash_value(h, v)
    else:
        h.update(f"{type(value).__name__}:{value!r}".encode())


def catalogue_hash(runs) -> str:
    """sha256 over every run id and every input (dtype, shape and bits) of the catalogue."""
    h = hashlib.sha256(f"format{FORMAT_VERSION}".encode())
    seen = set()
    for run in runs:
        h.update(run.id.encode())
        case = run.case
        if case.id in seen:
            continue
        seen.add(case.id)
        h.update(f"|{case.id}|{case.family}|{case.layout}|{case.raw}|{case.only}".encode())
        for name in sorted(case.inputs):
            h.update(name.encode())
            _hash_value(h, case.inputs[name])
        _hash_value(h, list(case.args))
    return h.hexdigest()


def counts(runs) -> dict:
    """Runs per function and dtype: ``{function: {dtype: n}}``."""
    c = Counter((run.function.name, run.case.dtype) for run in runs)
    out = {}
    for (function, dtype), n in sorted(c.items()):
        out.setdefault(function, {})[dtype] = n
    return out


# --- writing ---------------------------------------------------------------------------------------


class _Writer:
    def __init__(self):
        self.dtypes = []
        self.blobs = {1: [], 2: [], 4: [], 8: []}
        self.blob_len = {1: 0, 2: 0, 4: 0, 8: 0}
        self.arrays = []      # (dtype index, shape start, ndim, width, offset, count)
        self.shapes = []
        self.by_content = {}
        self.digests = []     # (sha, array index of the sample, dtype index, shape start, ndim)
        self.errors = []
        self.error_index = {}
        self.slots = []
        self.runs = []        # (kind, first slot, n outputs, error index)

    def _dtype_index(self, dtype):
        name = np.dtype(dtype).name
        if name not in self.dtypes:
            self.dtypes.append(name)
        return self.dtypes.index(name)

    def _shape(self, shape):
        start = len(self.shapes)
        self.shapes.extend(int(s) for s in shape)
        return start

    def array(self, a: np.ndarray) -> int:
        a = np.asarray(a)  # (not ascontiguousarray: it turns a 0-d array into shape (1,))
        key = (a.dtype.name, a.shape, a.tobytes())
        if key in self.by_content:
            return self.by_content[key]
        bits = _bits(a)
        width = bits.dtype.itemsize
        self.blobs[width].append(bits)
        self.arrays.append((self._dtype_index(a.dtype), self._shape(a.shape), a.ndim, width,
                            self.blob_len[width], bits.size))
        self.blob_len[width] += bits.size
        self.by_content[key] = len(self.arrays) - 1
        return self.by_content[key]

    def digest(self, a: np.ndarray) -> int:
        a = np.asarray(a)
        sample = self.array(a.reshape(-1)[sample_positions(a.size, min(a.size, SAMPLE))])
        self.digests.append((digest(a), sample, self._dtype_index(a.dtype), self._shape(a.shape), a.ndim))
        return len(self.digests) - 1

    def add(self, outcome: Outcome, large: bool):
        if outcome.raised:
            key = (outcome.error_kind, outcome.error_name, outcome.message)
            if key not in self.error_index:
                self.error_index[key] = len(self.errors)
                self.errors.append(list(key))
            self.runs.append((1, len(self.slots), 0, self.error_index[key]))
            return
        first = len(self.slots)
        for value in outcome.values:
            if value is None:
                self.slots.append(-1)
            elif large and np.asarray(value).size > SAMPLE:
                self.slots.append(-2 - self.digest(np.asarray(value)))
            else:
                self.slots.append(self.array(np.asarray(value)))
        self.runs.append((0, first, len(outcome.values), -1))

    def columns(self, run_ids) -> dict:
        cols = {f"bits{8 * w}": (np.concatenate(b) if b else np.zeros(0, _UINT[w])) for w, b in self.blobs.items()}
        arrays = np.array(self.arrays, np.int64).reshape(-1, 6)
        cols.update(
            array_dtype=arrays[:, 0].astype(np.uint8), array_shape=arrays[:, 1].astype(np.int32),
            array_ndim=arrays[:, 2].astype(np.uint8), array_width=arrays[:, 3].astype(np.uint8),
            array_offset=arrays[:, 4], array_size=arrays[:, 5],
            shapes=np.array(self.shapes, np.int64),
            digest_sha=np.array([d[0] for d in self.digests], dtype="S32").view(np.uint8).reshape(-1, 32)
            if self.digests else np.zeros((0, 32), np.uint8),
            digest_sample=np.array([d[1] for d in self.digests], np.int32),
            digest_dtype=np.array([d[2] for d in self.digests], np.uint8),
            digest_shape=np.array([d[3] for d in self.digests], np.int32),
            digest_ndim=np.array([d[4] for d in self.digests], np.uint8),
            slots=np.array(self.slots, np.int32),
        )
        runs = np.array(self.runs, np.int64).reshape(-1, 4)
        cols.update(run_kind=runs[:, 0].astype(np.uint8), run_first=runs[:, 1].astype(np.int32),
                    run_outputs=runs[:, 2].astype(np.uint8), run_error=runs[:, 3].astype(np.int32))
        strings = {"dtypes": self.dtypes, "errors": self.errors, "run_ids": list(run_ids)}
        cols["strings"] = np.frombuffer(json.dumps(strings).encode(), np.uint8)
        return cols


def write(directory, runs, outcomes, manifest: dict, supplement: str = "") -> tuple[Path, Path]:
    """Write ``tf<version>.npz`` and ``tf<version>.json`` for ``runs`` and TF's ``outcomes``.

    ``manifest`` carries what only the recorder knows (TF version, CPU, kernels, mode); the
    catalogue hash, counts, sizes and checksum are added here.  With ``supplement`` (a name such
    as ``"onednn"``) the files are ``tf<version>-<supplement>.*`` and the manifest lists the
    functions ``runs`` cover, which are all the catalogue's runs of those functions.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    writer = _Writer()
    for run, outcome in zip(runs, outcomes):
        writer.add(outcome, large=run.case.group == "large")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **writer.columns(run.id for run in runs))
    payload = buffer.getvalue()
    stem = f"tf{manifest['tensorflow']}" + (f"-{supplement}" if supplement else "")
    npz_path, json_path = directory / f"{stem}.npz", directory / f"{stem}.json"
    npz_path.write_bytes(payload)
    full = dict(manifest)
    if supplement:
        full.update(supplement=supplement, functions=sorted({run.function.name for run in runs}))
    full.update(
        format_version=FORMAT_VERSION,
        catalogue_hash=catalogue_hash(runs),
        runs=len(runs),
        counts=counts(runs),
        arrays=len(writer.arrays),
        digests=len(writer.digests),
        sample_per_large_output=SAMPLE,
        npz=npz_path.name,
        npz_bytes=len(payload),
        npz_sha256=hashlib.sha256(payload).hexdigest(),
    )
    json_path.write_text(json.dumps(full, indent=1, sort_keys=True) + "\n")
    return npz_path, json_path


# --- reading ---------------------------------------------------------------------------------------


class Golden:
    """Recorded results, looked up by run id (see :func:`load`)."""

    def __init__(self, manifest: dict, columns: dict):
        self.manifest = manifest
        #: The supplements recorded with other softmax kernels (see the module's docstring).
        self.supplements = []
        self._c = columns
        strings = json.loads(bytes(columns["strings"]).decode())
        self._dtypes = [_dtype(n) for n in strings["dtypes"]]
        self._errors = strings["errors"]
        self.run_ids = strings["run_ids"]
        self._index = {run_id: i for i, run_id in enumerate(self.run_ids)}

    def __contains__(self, run_id) -> bool:
        return run_id in self._index

    @property
    def name(self) -> str:
        """The recording's file stem (``tf2.21.0``, ``tf2.21.0-onednn``)."""
        return Path(self.manifest.get("npz", "")).stem

    def recordings(self) -> list:
        """This recording, then its supplements: where a replay looks a run up, in order."""
        return [self] + list(self.supplements)

    def _array(self, i: int) -> np.ndarray:
        c = self._c
        width, offset, size = int(c["array_width"][i]), int(c["array_offset"][i]), int(c["array_size"][i])
        dtype = self._dtypes[c["array_dtype"][i]]
        start, ndim = int(c["array_shape"][i]), int(c["array_ndim"][i])
        shape = tuple(int(s) for s in c["shapes"][start:start + ndim])
        bits = c[f"bits{8 * width}"][offset:offset + size]
        return bits.view(dtype).reshape(shape).copy()

    def _digest(self, d: int) -> Digest:
        c = self._c
        start, ndim = int(c["digest_shape"][d]), int(c["digest_ndim"][d])
        return Digest(self._dtypes[c["digest_dtype"][d]], tuple(int(s) for s in c["shapes"][start:start + ndim]),
                      bytes(c["digest_sha"][d]), self._array(int(c["digest_sample"][d])))

    def outcome(self, run_id: str) -> Outcome:
        """TF's recorded outcome of a run (large outputs as :class:`Digest`)."""
        i = self._index[run_id]
        c = self._c
        if c["run_kind"][i] == 1:
            kind, name, message = self._errors[int(c["run_error"][i])]
            return Outcome(error_kind=kind, error_name=name, message=message)
        first, n = int(c["run_first"][i]), int(c["run_outputs"][i])
        values = []
        for slot in c["slots"][first:first + n]:
            slot = int(slot)
            values.append(None if slot == -1 else self._array(slot) if slot >= 0 else self._digest(-2 - slot))
        return Outcome(values=tuple(values))


def paths(version: str = RECORDED_TF, directory=None, supplement: str = "") -> tuple[Path, Path]:
    """The npz and manifest of a recorded TF release (or of one of its supplements)."""
    directory = Path(directory) if directory is not None else DATA_DIR
    stem = f"tf{version}" + (f"-{supplement}" if supplement else "")
    return directory / f"{stem}.npz", directory / f"{stem}.json"


def supplements(version: str = RECORDED_TF, directory=None) -> list:
    """The names of the supplements recorded for a TF release (``["onednn"]``)."""
    directory = Path(directory) if directory is not None else DATA_DIR
    prefix = f"tf{version}-"
    return sorted(p.stem[len(prefix):] for p in directory.glob(f"{prefix}*.json"))


def _read(npz_path: Path, json_path: Path) -> Golden:
    if not npz_path.exists() or not json_path.exists():
        raise GoldenError(f"no recorded results {npz_path.stem} in {npz_path.parent} (run `make golden`)")
    manifest = json.loads(json_path.read_text())
    payload = npz_path.read_bytes()
    if hashlib.sha256(payload).hexdigest() != manifest.get("npz_sha256"):
        raise GoldenError(f"{npz_path.name} does not match the checksum in {json_path.name}: the file is damaged")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise GoldenError(f"{json_path.name} has format {manifest.get('format_version')}, "
                          f"this tfloss reads {FORMAT_VERSION}")
    with np.load(io.BytesIO(payload), allow_pickle=False) as data:
        columns = {name: data[name] for name in data.files}
    return Golden(manifest, columns)


def load(runs=None, version: str = RECORDED_TF, directory=None, verify: bool = True) -> Golden:
    """Load recorded results and their supplements, checking checksum, catalogue hash and counts
    against ``runs``.

    Parameters
    ----------
    runs : list of tfloss.conformance.catalogue.Run, optional
        The catalogue's runs (default: the whole catalogue); what the results must describe (a
        supplement: all of their runs of the functions it covers).
    verify : bool
        Check the catalogue hash and counts (the checksum is always checked).

    Raises
    ------
    GoldenError
        Missing files, a checksum mismatch, or results recorded for another catalogue (stale:
        run ``make golden``, and ``make golden-kernels`` for a supplement).
    """
    golden = _read(*paths(version, directory))
    golden.supplements = [_read(*paths(version, directory, name)) for name in supplements(version, directory)]
    if verify:
        if runs is None:
            from .catalogue import runs as catalogue_runs

            runs = catalogue_runs()
        stale = stale_reasons(golden, runs)
        if stale:
            raise GoldenError("recorded results are stale against the catalogue (run `make golden`): "
                              + "; ".join(stale))
        for supplement in golden.supplements:
            covered = set(supplement.manifest.get("functions", ()))
            stale = stale_reasons(supplement, [run for run in runs if run.function.name in covered])
            if stale:
                raise GoldenError(f"recorded results {supplement.name} are stale against the catalogue "
                                  "(run `make golden-kernels` on a CPU whose TF runs its kernels, or delete them): " + "; ".join(stale))
    return golden


def stale_reasons(golden: Golden, runs) -> list:
    """How recorded results disagree with the catalogue's runs (empty when they agree)."""
    reasons = []
    if golden.manifest.get("runs") != len(runs) or len(golden.run_ids) != len(runs):
        reasons.append(f"{golden.manifest.get('runs')} runs recorded, the catalogue has {len(runs)}")
    if golden.manifest.get("counts") != counts(runs):
        ours, theirs = counts(runs), golden.manifest.get("counts", {})
        differ = sorted(f for f in set(ours) | set(theirs) if ours.get(f) != theirs.get(f))
        reasons.append(f"run counts differ for {', '.join(differ[:3])}{' ...' if len(differ) > 3 else ''}")
    if golden.manifest.get("catalogue_hash") != catalogue_hash(runs):
        reasons.append("the catalogue's inputs or ids changed since recording (catalogue hash differs)")
    return reasons
