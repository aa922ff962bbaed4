"""`python -m facedesk` opens the desktop application; with arguments it is the CLI."""

from facedesk.launcher import main

if __name__ == "__main__":
    main(gui_by_default=True)
