"""`python -m service` is the `hitl` command."""

from service.cli import main

main()
