"""Reading finished runs: evaluate, compare, list and predict from run folders."""
