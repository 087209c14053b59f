"""What TF's Python layer does before a kernel runs.

* :mod:`.arguments`: the dispatch decorator's argument binding and its error texts;
* :mod:`.convert`: ``convert_to_tensor``, dtype and shape checks, TF's messages (the one
  conversion layer every op uses), with the op dtype tables of :mod:`.opdefs`;
* :mod:`.wrappers`: ``nn_impl.py``/``nn_ops.py`` step by step around each kernel (casts,
  transposes, flattening), handing the math to :mod:`tfloss._engine`;
* :mod:`.keras_losses` and :mod:`.v1_losses`: Keras 3's and ``tf.compat.v1.losses``' Python
  steps around those ops.

The public signatures are in :mod:`tfloss.nn`, :mod:`tfloss.math`, :mod:`tfloss.keras` and
:mod:`tfloss.compat`; the math is in :mod:`tfloss._kernels` and :mod:`tfloss._machine`.
"""
