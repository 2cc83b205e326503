"""One exception root, narrow subclasses, messages a user can act on."""


class VigilError(Exception):
    """Root of every error Vigil raises on purpose."""


class ConfigError(VigilError):
    """A setting or configuration file is invalid."""


class ParseError(VigilError):
    """A log record could not be turned into an event; the message is the dead-letter reason."""


class StackError(VigilError):
    """The local Kafka/Elasticsearch stack could not be fetched, started or reached."""


class CollectorError(VigilError):
    """A collector could not start (port taken, unreadable checkpoint...) or stopped on a fault."""
