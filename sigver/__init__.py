"""sigver: offline handwritten signature verification in PyTorch.

Stages (each a subpackage, each runnable as ``python -m sigver.<stage>.<command>``):
``datasets``, ``preprocessing``, ``featurelearning``, ``wd``, ``wi``, ``metalearning``,
``distillation``, ``adversarial``, ``verify``; the engines they share: ``training`` (the loop and run set-up)
and ``evaluation`` (metrics, result files, plots, protocol helpers). See the README's "Architecture".
"""

__version__ = "0.3.0.dev0"
