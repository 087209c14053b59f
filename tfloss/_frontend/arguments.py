"""How TF's dispatch wrapper binds a call's arguments, with its own error texts.

``tf.nn`` functions are wrapped by TF's dispatch decorator, which binds arguments before the
function runs and words its ``TypeError`` differently from Python ("Got an unexpected keyword
argument 'foo'" rather than "f() got an unexpected keyword argument 'foo'").  :func:`tf_api`
gives tfloss's public functions the same binding and the same words; ``inspect.signature``
still shows the function's own signature.
"""

from __future__ import annotations

import functools
import inspect


def tf_api(function):
    """Bind arguments as TF's dispatch wrapper does, then call ``function``."""
    parameters = list(inspect.signature(function).parameters.values())
    names = [p.name for p in parameters]
    required = [p.name for p in parameters if p.default is inspect.Parameter.empty]

    @functools.wraps(function)
    def call(*args, **kwargs):
        if len(args) > len(names):
            raise TypeError(f"Too many arguments were given. Expected {len(names)} but got {len(args)}.")
        for keyword in kwargs:
            if keyword not in names:
                raise TypeError(f"Got an unexpected keyword argument '{keyword}'")
        for name in names[: len(args)]:
            if name in kwargs:
                raise TypeError(f"Got multiple values for argument '{name}'")
        given = set(names[: len(args)]) | set(kwargs)
        if any(name not in given for name in required):
            raise TypeError("Missing required positional argument")
        return function(*args, **kwargs)

    return call


def shared_sections(text: str):
    """Put ``text`` (sections several functions share) where the docstring says ``{sections}``.

    Applied below :func:`tf_api`, which copies the finished docstring.
    """

    def fill(function):
        function.__doc__ = function.__doc__.replace("{sections}", text)
        return function

    return fill
