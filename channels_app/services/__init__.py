"""Write use-cases of the channels app: accounts and config, the inbox, the outbox."""
