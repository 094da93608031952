# expect: 0/6
# status: error
# message: the notebook could not be run to the end
import os

os._exit(1)
