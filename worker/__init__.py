"""The arq worker: deadlines, webhook deliveries and the sweeper that makes Redis disposable."""
