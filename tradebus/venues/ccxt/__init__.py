"""CCXT adapter: any of ccxt's exchanges by name, REST through `ccxt.async_support`, streams through
`ccxt.pro`. ccxt is imported lazily (only when an exchange is built)."""
