"""`python -m annas_gift` runs the CLI."""

from annas_gift.cli import main

main()
