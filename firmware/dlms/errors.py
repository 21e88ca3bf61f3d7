"""The errors of the sans-IO layer.

Malformed bytes from outside raise ``DecodeError`` and nothing else, so a
connection has exactly one exception to turn into the protocol's answer (an
exception-response, a data-access-result, a dropped frame). Encoding into a
caller's bounded buffer that is too small raises ``BufferFull``, which the
application layer uses to switch to block transfer.
"""


class DecodeError(ValueError):
    """Malformed input; ``offset`` is where in the input it was found."""

    def __init__(self, msg, offset=-1):
        super().__init__(msg)
        self.msg = msg
        self.offset = offset

    def __str__(self):
        if self.offset < 0:
            return self.msg
        return "%s at offset %d" % (self.msg, self.offset)


class BufferFull(Exception):
    """The encoded value does not fit the buffer it is being written into."""


class DataAccessError(Exception):
    """An object refuses an access: ``result`` is the data-access-result (or
    action-result) the server sends back (xdlms.READ_WRITE_DENIED, ...)."""

    def __init__(self, result, msg=""):
        super().__init__(msg or "data-access-result %d" % result)
        self.result = result
