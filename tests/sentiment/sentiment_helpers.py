"""Helpers of the sentiment tests (a module name of its own: `conftest` clashes across folders)."""

import csv


def write_csv(path, rows, header=("review", "sentiment")):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path
