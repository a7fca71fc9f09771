"""The one path of every request that moves money: orders at a venue or a broker, transfers,
withdrawals and onchain sends. See `core` for the rules and `orders` and `operations` for the
two kinds of record they keep."""
