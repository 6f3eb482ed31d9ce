"""azureml.train: only ``azureml.train.hyperdrive`` (runner's sweeps).

Everything here is imported from runner; nothing else imports this package.
"""
