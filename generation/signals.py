"""What the generation domain announces; plug-ins (webhooks) connect to it in their AppConfig.ready()."""

from django.dispatch import Signal

# Sent with `generation` inside the transaction that gives a generation its final status: a receiver's rows commit
# or roll back with it (an outbox), and whatever it sends out must wait for transaction.on_commit.
generation_finished = Signal()
