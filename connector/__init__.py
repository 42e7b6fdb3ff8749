"""connector: a workflow-automation connector for the Bitly API v4 and shorten.dev."""

from connector.errors import ConnectorError

__all__ = ["ConnectorError", "__version__"]
__version__ = "0.1.0"
