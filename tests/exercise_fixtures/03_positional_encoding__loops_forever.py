# expect: 0/6
# message: did not finish within
def sinusoidal_encoding(max_len, d_model):
    while True:
        pass
