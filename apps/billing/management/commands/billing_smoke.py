"""`manage.py billing_smoke` (`make billing-smoke`): the whole money path against localstripe on loopback.

purchase (a card charged through stripe-python) -> localstripe's signed webhook delivered over HTTP to our
endpoint -> license -> installation -> usage (twice, booked once) -> the publisher's statement -> a refund.
Steps localstripe cannot play (Prices, Checkout, Connect, Billing Meters) are named as skipped; the test
suite covers them against recorded Stripe answers. Needs the development dependencies (localstripe).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
import time
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import stripe
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.core.wsgi import get_wsgi_application
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Membership, Organization, User
from apps.accounts.roles import Role
from apps.billing import services
from apps.billing.models import LedgerEntry, PublisherAccount, PurchaseStatus, UsageRecord
from apps.marketplace.entitlements import check_entitlement
from apps.marketplace.models import Extension, ExtensionVersion, Installation, Publisher, VersionStatus
from apps.marketplace.services.catalog import refresh_extension_listing
from apps.marketplace.services.installations import permissions_of


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


class Command(BaseCommand):
    help = "Run purchase -> webhook -> entitlement -> install -> usage -> statement against localstripe."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            from apps.billing.fake_stripe import FakeStripeServer
        except ImportError as exc:  # pragma: no cover - only without the dev requirements
            raise CommandError("localstripe is a development dependency: make install-dev") from exc
        self.step = 0
        fake = FakeStripeServer().start()
        app_server = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=_QuietHandler)
        threading.Thread(target=app_server.serve_forever, daemon=True).start()
        try:
            self._configure(fake.url)
            webhook_url = f"http://127.0.0.1:{app_server.server_port}/billing/stripe/webhook/"
            fake.register_webhook(url=webhook_url, secret=settings.DJSTRIPE_WEBHOOK_SECRET, name="smoke")
            self._say(f"localstripe at {fake.url}; its signed webhooks go to {webhook_url}")
            self._run()
        finally:
            app_server.shutdown()
            fake.stop()
        self.stdout.write(self.style.SUCCESS("billing smoke: every step passed"))

    def _say(self, text: str) -> None:
        self.step += 1
        self.stdout.write(f"[{self.step:02d}] {text}")

    def _configure(self, url: str) -> None:
        # Only this process: a throwaway test key and webhook secret, Stripe's host on loopback, and the
        # guarded transport told that loopback is where Stripe is.
        settings.STRIPE_TEST_SECRET_KEY = settings.STRIPE_TEST_SECRET_KEY or f"sk_test_{secrets.token_hex(16)}"
        settings.STRIPE_LIVE_MODE = False
        settings.STRIPE_API_HOST = url
        settings.DJSTRIPE_WEBHOOK_SECRET = f"whsec_{secrets.token_hex(16)}"
        settings.OUTBOUND_ALLOWED_NETWORKS = [*settings.OUTBOUND_ALLOWED_NETWORKS, "127.0.0.0/8"]
        settings.MARKETPLACE_CHECKOUT = "apps.billing.checkout.begin_paid_install"
        settings.MARKETPLACE_ENTITLEMENT_CHECK = "apps.billing.entitlements.licensed_plans"
        from nofx.celery_app import app as celery_app

        celery_app.conf.task_always_eager = True
        logging.getLogger("apps.billing.tasks").setLevel(logging.CRITICAL)
        for noisy in ("stripe", "aiohttp.access", "celery.app.trace"):
            logging.getLogger(noisy).setLevel(logging.WARNING)

    def _catalog(self, tag: str) -> tuple[Organization, User, Extension]:
        region = settings.REGION_CODE
        with transaction.atomic():
            buyer = User.objects.create_user(email=f"buyer-{tag}@smoke.example", password=None)
            customer = Organization.objects.create(
                name=f"Smoke buyer {tag}", slug=f"smoke-buyer-{tag}", home_region_code=region
            )
            Membership.objects.create(user=buyer, organization=customer, role=Role.OWNER)
            seller = Organization.objects.create(
                name=f"Smoke seller {tag}", slug=f"smoke-seller-{tag}", home_region_code=region
            )
            publisher = Publisher.objects.create(
                organization=seller, slug=f"smoke{tag}", name=f"Smoke seller {tag}", accepted_terms_at=timezone.now()
            )
            manifest: dict[str, Any] = {
                "id": f"smoke{tag}.reports",
                "version": "1.0.0",
                "type": "workflow",
                "name": "Smoke Reports",
                "description": "A paid extension for the billing smoke test.",
                "author": {"name": "Smoke"},
                "permissions": {"scopes": [], "egress": [], "dataClasses": []},
                "pricing": {
                    "plans": [
                        {
                            "id": "pro",
                            "name": "Pro",
                            "model": "one_time",
                            "amount": 4900,
                            "currency": "usd",
                            "meter": "reports",
                            "unitAmount": 2,
                        }
                    ]
                },
            }
            extension = Extension.objects.create(
                publisher=publisher, slug=manifest["id"], type="workflow", name=manifest["name"]
            )
            ExtensionVersion.objects.create(
                extension=extension,
                version="1.0.0",
                version_major=1,
                status=VersionStatus.PUBLISHED,
                manifest=manifest,
                permissions=manifest["permissions"],
                published_at=timezone.now(),
            )
            extension = refresh_extension_listing(extension=extension)
        return customer, buyer, extension

    def _run(self) -> None:
        tag = secrets.token_hex(3)
        organization, buyer, extension = self._catalog(tag)
        version = extension.latest_version
        assert version is not None
        (plan,) = services.sync_billing_plans(version=version, push_to_stripe=False)
        self._say(
            f"catalog: {extension.slug} plan {plan.plan_id!r} at {plan.amount} cents "
            "(Stripe Product/Price skipped: localstripe has no Prices)"
        )
        PublisherAccount.objects.create(
            publisher=extension.publisher,
            stripe_account_id=f"acct_smoke{tag}",
            charges_enabled=True,
            payouts_enabled=True,
        )
        self._say("publisher Connect account seeded (localstripe has no Connect)")

        purchase = services.create_purchase(
            organization=organization,
            actor=buyer,
            version=version,
            plan=plan,
            config={},
            granted_permissions=permissions_of(version),
        )
        customer = services.ensure_billing_customer(organization=organization)
        card: Any = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
        method = stripe.PaymentMethod.create(type="card", card=card)
        intent = services.charge_purchase(purchase=purchase, payment_method_id=method["id"])
        self._say(
            f"purchase: customer {customer.stripe_customer_id} paid {intent['amount']} cents, "
            f"{intent['id']} {intent['status']}"
        )

        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            purchase.refresh_from_db()
            if purchase.status != PurchaseStatus.PENDING:
                break
            time.sleep(0.2)
        if purchase.status != PurchaseStatus.INSTALLED:
            raise CommandError(f"the webhook did not install the purchase: {purchase.status} {purchase.status_reason}")
        self._say("webhook: payment_intent.succeeded arrived signed and was verified")

        entitlement = check_entitlement(organization=organization, extension=extension, version=version, plan_id="pro")
        if not entitlement.allowed:
            raise CommandError(f"no entitlement: {entitlement.reason}")
        self._say("entitlement: license for plan 'pro' is active")

        if purchase.installation_id is None:
            raise CommandError("the purchase was paid but not installed")
        installation = Installation.objects.get(pk=purchase.installation_id)
        self._say(f"install: installation {installation.pk} is {installation.status}")

        first = services.record_usage(installation=installation, event_id="smoke-1", quantity=7)
        again = services.record_usage(installation=installation, event_id="smoke-1", quantity=7)
        if first is None or again is None or first.pk != again.pk:
            raise CommandError("usage was not booked once")
        count = UsageRecord.objects.filter(installation=installation).count()
        self._say(
            f"usage: 7 reports sent twice, {count} ledger row, meter identifier {first.pk} "
            "(Stripe Billing Meters skipped: not in localstripe)"
        )

        today = timezone.now().date()
        start = today.replace(day=1)
        end = (start + dt.timedelta(days=32)).replace(day=1)
        (statement,) = services.compute_statements(publisher=extension.publisher, period_start=start, period_end=end)
        lines = list(statement.entries.order_by("occurred_at"))
        for line in lines:
            self.stdout.write(
                f"       {line.kind:<9} gross {line.gross:>6} fee {line.fee:>5} net {line.net:>6} {line.source_id}"
            )
        if sum(line.net for line in lines) != statement.net:
            raise CommandError("the statement's lines do not add up to its payout")
        self._say(
            f"statement {start:%Y-%m}: gross {statement.gross}, fee {statement.fee}, payout {statement.net} cents "
            "= the sum of its lines (transfer skipped: localstripe has no Connect)"
        )

        refund = services.refund_purchase(purchase=purchase, actor=None)
        refunds = LedgerEntry.objects.filter(kind="refund", extension=extension).count()
        installation.refresh_from_db()
        self._say(
            f"refund: {refund.source_id} booked {refund.net} to the publisher ({refunds} line); "
            f"installation {installation.status}"
        )
