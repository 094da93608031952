# expect: 0/6
# message: `sinusoidal_encoding` is not defined
# note: ModuleNotFoundError: No module named 'a_module_that_does_not_exist'
import a_module_that_does_not_exist


def sinusoidal_encoding(max_len, d_model):
    return a_module_that_does_not_exist.table(max_len, d_model)
