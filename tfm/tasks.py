"""The names of the generated seq2seq tasks: the one list that :func:`tfm.data.make_task` and the
command line (``python -m tfm train --task ...``) share. Kept free of torch, so that
``python -m tfm --help`` starts at once."""

SEQ2SEQ_TASKS = ("copy", "reverse", "sort", "addition", "numbers")
