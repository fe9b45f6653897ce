"""pdzone: the platform a public data zone (公共数据专区) runs on."""

__version__ = "0.1.0"
