import os

# Quiet TensorFlow's C++ start-up chatter in the test log.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
