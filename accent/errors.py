"""User-facing errors: one line that names the file or column and the fix; the CLI exits with status 2."""


class AccentError(Exception):
    """A problem with the user's input (paths, files, columns, labels, arguments).

    The message is shown as one line, without a traceback, so it must name what is
    wrong (file, column, value) and what was expected.
    """


class AudioError(AccentError):
    """A clip that cannot be used: unreadable, empty, too short or silent."""


def check_keys(given, known, what: str) -> None:
    """The one check of settings read from a file or a dict: an unknown key is an AccentError naming
    it and the known ones (a typo must not be dropped silently and leave a default in force)."""
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise AccentError(f"unknown {what}(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
