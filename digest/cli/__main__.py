"""`python -m digest.cli`: the same command as `digest`."""

from digest.cli import main

main()
