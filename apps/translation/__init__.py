"""Translation: sequence to sequence with attention (dates to ISO, KJV English to RV1909 Spanish).

Pieces only for now (metrics, data, model); the lead wires them into the app contract.
"""
