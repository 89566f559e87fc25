"""`python -m harness.sink`: the stand-in control node (harness/testing/sink.py), by its old name."""
from harness.testing.sink import main

if __name__ == "__main__":
    main()
