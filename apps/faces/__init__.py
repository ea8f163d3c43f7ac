"""Face verification: triplet/margin-trained encoders, a calibrated threshold, enrolment (task.py)."""
