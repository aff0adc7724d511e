"""The one exception type that the command line turns into a single line and exit status 2."""


class InputError(Exception):
    """Bad input from the user: a path, a flag, a data line, a model or adapter file.

    The message is one line that names the file or flag and says what to do.
    """
