# expect: 0/6
# message: raised SystemExit
import sys


def sinusoidal_encoding(max_len, d_model):
    sys.exit("bye")
