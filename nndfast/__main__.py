"""``python -m nndfast`` (entry point): the same as the ``nndfast`` command (see
nndfast.cli)."""
import sys

if __name__ == "__main__":
    try:
        from nndfast.cli import main
    except KeyboardInterrupt:  # Ctrl-C while importing: same exit as during a run
        print("nndfast: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(main())
