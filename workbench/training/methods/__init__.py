"""The seed papers' training methods, one module each, as Trainer subclasses.

Each module holds one method (its paper in the docstring, its defaults from the paper's
reference code with repository and commit) and is declared in
:data:`workbench.training.recipes.METHODS`; it is imported only when a run needs it.
A method overrides the hooks of :class:`workbench.training.loop.Trainer`: ``ACCEPTS``,
``DEFAULTS``, ``OPTIONS``, ``load_data``, ``setup``, ``make_loss``, ``compute_loss``,
``trainable_module``, ``before_step`` and ``export``; checkpoints, resumption, evaluation on
STS-B dev and the sentence-transformers export come from the Trainer.
"""
