"""Billing: plans mirrored to Stripe, purchases, licenses, the revenue ledger, usage, statements and payouts.

Money is kept in integer minor units (cents) everywhere; a statement's lines add up to its payout exactly.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.core.fields import EncryptedJSONField
from apps.core.models import BaseModel, OrganizationOwnedModel


class BillingPlan(BaseModel):
    """One pricing plan of an extension as last published, with the Stripe Product and Price that sell it."""

    extension = models.ForeignKey("marketplace.Extension", on_delete=models.CASCADE, related_name="billing_plans")
    plan_id = models.CharField(max_length=40)
    name = models.CharField(max_length=80)
    model = models.CharField(max_length=16)
    currency = models.CharField(max_length=3, blank=True)
    amount = models.PositiveIntegerField(null=True, blank=True, help_text="Cents per purchase or period.")
    interval = models.CharField(max_length=8, blank=True)
    trial_days = models.PositiveIntegerField(null=True, blank=True)
    per_seat = models.BooleanField(default=False)
    meter = models.CharField(max_length=64, blank=True)
    unit_amount = models.PositiveIntegerField(null=True, blank=True)
    tiers = models.JSONField(default=list, blank=True)
    stripe_product_id = models.CharField(max_length=255, blank=True)
    stripe_price_id = models.CharField(max_length=255, blank=True)
    price_fingerprint = models.CharField(max_length=64, blank=True, help_text="What the Stripe Price was made from.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["extension", "plan_id"], name="billing_plan_unique")]

    def __str__(self) -> str:
        return f"{self.extension_id}:{self.plan_id}"

    @property
    def is_paid(self) -> bool:
        return self.model != "free"


class PublisherAccount(BaseModel):
    """A publisher's Stripe Connect Express account and its fee terms."""

    publisher = models.OneToOneField("marketplace.Publisher", on_delete=models.CASCADE, related_name="billing_account")
    stripe_account_id = models.CharField(max_length=255, unique=True)
    details_submitted = models.BooleanField(default=False)
    charges_enabled = models.BooleanField(default=False)
    payouts_enabled = models.BooleanField(default=False)
    fee_percent = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True, help_text="Overrides the default tiers when set."
    )

    def __str__(self) -> str:
        return self.stripe_account_id


class BillingCustomer(OrganizationOwnedModel):
    """The Stripe Customer that pays for an organization."""

    stripe_customer_id = models.CharField(max_length=255, unique=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization"], name="billing_customer_per_org")]


class PurchaseStatus(models.TextChoices):
    PENDING = "pending", "Waiting for payment"
    PAID = "paid", "Paid"
    INSTALLED = "installed", "Paid and installed"
    FAILED = "failed", "Payment failed"
    CANCELED = "canceled", "Canceled"


class Purchase(OrganizationOwnedModel):
    """A checkout in progress or done: what to install, with which configuration, once it is paid."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    extension = models.ForeignKey("marketplace.Extension", on_delete=models.PROTECT, related_name="+")
    version = models.ForeignKey("marketplace.ExtensionVersion", on_delete=models.PROTECT, related_name="+")
    plan = models.ForeignKey(BillingPlan, on_delete=models.PROTECT, related_name="purchases")
    quantity = models.PositiveIntegerField(default=1)
    config = EncryptedJSONField(null=True, blank=True, help_text="The configuration to install with (encrypted).")
    granted_permissions = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=PurchaseStatus.choices, default=PurchaseStatus.PENDING)
    status_reason = models.TextField(blank=True)
    stripe_session_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_subscription_id = models.CharField(max_length=255, blank=True, db_index=True)
    destination_account_id = models.CharField(max_length=255, blank=True)
    fee_percent = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    amount_subtotal = models.BigIntegerField(default=0)
    amount_tax = models.BigIntegerField(default=0)
    amount_total = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    installation = models.ForeignKey(
        "marketplace.Installation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"purchase {self.pk} ({self.status})"


class LicenseStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    TRIALING = "trialing", "Trialing"
    PAST_DUE = "past_due", "Payment failed (grace period)"
    LAPSED = "lapsed", "Lapsed"
    CANCELED = "canceled", "Canceled"
    REFUNDED = "refunded", "Refunded"


GOOD_STANDING = (LicenseStatus.ACTIVE, LicenseStatus.TRIALING, LicenseStatus.PAST_DUE)


class License(OrganizationOwnedModel):
    """The right of an organization to use a paid plan of an extension, derived from Stripe's state."""

    extension = models.ForeignKey("marketplace.Extension", on_delete=models.PROTECT, related_name="+")
    plan_id = models.CharField(max_length=40)
    status = models.CharField(max_length=16, choices=LicenseStatus.choices, default=LicenseStatus.ACTIVE)
    quantity = models.PositiveIntegerField(default=1)
    stripe_subscription_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    past_due_since = models.DateTimeField(null=True, blank=True)
    state_as_of = models.DateTimeField(
        null=True, blank=True, help_text="Created time of the Stripe event the status came from; older ones lose."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "extension", "plan_id"], name="billing_license_unique")
        ]

    def __str__(self) -> str:
        return f"{self.extension_id}:{self.plan_id} ({self.status})"

    @property
    def in_good_standing(self) -> bool:
        return self.status in GOOD_STANDING


class StripeEventReceipt(BaseModel):
    """Every Stripe event we processed, once: a replayed delivery finds its id here and is ignored."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    stripe_created = models.DateTimeField()
    outcome = models.CharField(max_length=200, blank=True)


class LedgerKind(models.TextChoices):
    SALE = "sale", "Sale"
    FREE = "free", "$0 sale"
    DISCOUNT = "discount", "Discount"
    REFUND = "refund", "Refund"
    UPGRADE = "upgrade", "Upgrade"
    DOWNGRADE = "downgrade", "Downgrade"
    USAGE = "usage", "Usage"


class LedgerEntry(BaseModel):
    """One money movement of a publisher's extension. `gross` is what the customer paid (negative for a
    refund), `fee` the platform's share of it, `net = gross - fee` the publisher's; tax is kept apart."""

    publisher = models.ForeignKey("marketplace.Publisher", on_delete=models.PROTECT, related_name="+")
    extension = models.ForeignKey("marketplace.Extension", on_delete=models.PROTECT, related_name="+")
    organization = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=LedgerKind.choices)
    plan_id = models.CharField(max_length=40, blank=True)
    currency = models.CharField(max_length=3)
    gross = models.BigIntegerField()
    discount = models.BigIntegerField(default=0)
    fee = models.BigIntegerField()
    net = models.BigIntegerField()
    routed = models.BigIntegerField(
        default=0, help_text="Part of `net` Stripe already sent to the publisher with the charge (destination)."
    )
    tax = models.BigIntegerField(default=0)
    tax_jurisdiction = models.CharField(max_length=16, blank=True, help_text="Country (and state) taxed.")
    source_id = models.CharField(max_length=255, unique=True, help_text="The Stripe object it records, once.")
    occurred_at = models.DateTimeField(db_index=True)
    statement = models.ForeignKey(
        "billing.Statement", null=True, blank=True, on_delete=models.SET_NULL, related_name="entries"
    )

    class Meta:
        indexes = [models.Index(fields=["publisher", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.gross} {self.currency}"


class UsageRecord(OrganizationOwnedModel):
    """One usage report of an installed extension, kept once per (installation, event id) and sent to the
    plan's Stripe Billing Meter with this row's id as the meter event identifier."""

    installation = models.ForeignKey("marketplace.Installation", on_delete=models.CASCADE, related_name="+")
    extension = models.ForeignKey("marketplace.Extension", on_delete=models.PROTECT, related_name="+")
    plan_id = models.CharField(max_length=40)
    meter = models.CharField(max_length=64)
    event_id = models.CharField(max_length=255)
    quantity = models.PositiveBigIntegerField()
    occurred_at = models.DateTimeField(db_index=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    report_error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["installation", "event_id"], name="billing_usage_once_per_event")
        ]


class StatementStatus(models.TextChoices):
    OPEN = "open", "Computed, not paid"
    PAID = "paid", "Paid out"
    FAILED = "failed", "Payout failed"
    EMPTY = "empty", "Nothing to pay"


class Statement(BaseModel):
    """A publisher's earnings for one period and currency, paid out with one Connect transfer."""

    publisher = models.ForeignKey("marketplace.Publisher", on_delete=models.PROTECT, related_name="+")
    period_start = models.DateField()
    period_end = models.DateField(help_text="Exclusive.")
    currency = models.CharField(max_length=3)
    gross = models.BigIntegerField(default=0)
    fee = models.BigIntegerField(default=0)
    net = models.BigIntegerField(default=0, help_text="The payout: the sum of the lines' net.")
    routed = models.BigIntegerField(default=0, help_text="Of the payout, what the charges already sent.")
    transferred = models.BigIntegerField(default=0, help_text="Of the payout, what this statement's transfer sent.")
    status = models.CharField(max_length=16, choices=StatementStatus.choices, default=StatementStatus.OPEN)
    status_reason = models.TextField(blank=True)
    stripe_transfer_id = models.CharField(max_length=255, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["publisher", "period_start", "currency"], name="billing_statement_once_per_period"
            )
        ]
        ordering = ["-period_start"]

    def __str__(self) -> str:
        return f"{self.publisher_id} {self.period_start} {self.currency}"
