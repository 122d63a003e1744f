"""The one exception type the CLI turns into a clear message and a non-zero exit."""


class CycleAugError(Exception):
    """A user-facing error: bad input, a missing file, a wrong checksum.

    The message must name the file, key or value at fault and say what was expected;
    the CLI prints it as ``cycleaug <command>: error: <message>`` and exits with status 2.
    """
