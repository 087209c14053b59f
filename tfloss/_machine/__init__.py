"""How TF's CPU computes: the platform facts that decide the last bit.

* :mod:`.cpu`: one TF CPU op as one rounded NumPy operation (:class:`~.cpu.CpuTensor`:
  flush-to-zero, 16-bit types computed in float32, Eigen's summation order);
* :mod:`.eigen_math`: Eigen's ``exp``/``log``/``log1p``/``pow`` packets and the C library's tail;
* :mod:`.math_ops`: the kernels of TF's Sigmoid, Softmax, LogSoftmax, Sum, Mean and Pow ops,
  oneDNN's softmax where TF runs it.

:mod:`tfloss._kernels` writes each loss with these; :mod:`tfloss._engine` compiles the same steps.
"""
