"""dlopt: reference implementations for the course *Optimization for Deep Learning*.

One module per concept, so a chapter's imports read like its table of contents:

- ``rules``: every update rule, written once as array arithmetic for NumPy and torch
- ``optimizers``: each optimizer defined once (arguments, rule, algorithm)
- ``optim_numpy`` / ``optim_torch``: the two front ends (same class names)
- ``second_order``: Newton's method and L-BFGS on small problems
- ``schedules``, ``clipping``: learning-rate schedules, gradient clipping
- ``layers``, ``losses``, ``init``, ``gradcheck``: networks from scratch in NumPy
- ``landscapes``, ``data``: test functions and small data sets (no downloads)
- ``descent``: an optimizer's path on a landscape, and when its loss settles
- ``training``, ``search``, ``finetune``: the loop, hyperparameter search, LoRA
  (``finetune_torch``: LoRA for ``torch.nn.Linear``)
- ``bayesopt``: Bayesian optimization (Gaussian process, expected improvement)
- ``spiral_tuning``: the hyperparameter chapter's tuning task
- ``digit_transfer``: the fine-tuning chapter's source and target tasks
- ``plots``: the book's figures and animations; ``explorers``: figures with sliders
- ``grading``: what the assignments' test cells call
"""

__version__ = "0.1.0"
