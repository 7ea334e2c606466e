"""Forms of the account pages. They parse and validate input; the views hand the result to `services`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from allauth.account.forms import LoginForm
from django import forms
from django.core.exceptions import ValidationError

from apps.accounts.models import Organization, Team, User, region_code_validator
from apps.accounts.roles import Role, can_grant
from apps.core.exceptions import BusinessRuleViolation


class ServiceForm(forms.Form):
    """A form that can show an error raised by a service next to the field it names."""

    def add_service_error(self, error: BusinessRuleViolation | ValidationError) -> None:
        """Attach a service's refusal to its field, or to the form as a whole when the field is not on it."""
        if isinstance(error, BusinessRuleViolation):
            field = error.field if error.field in self.fields else None
            self.add_error(field, error.message)
            return
        if hasattr(error, "error_dict"):
            for name, messages in error.message_dict.items():
                self.add_error(name if name in self.fields else None, messages)
            return
        self.add_error(None, error)


def grantable_roles(actor_role: str | None) -> list[tuple[str, str]]:
    """The roles someone with `actor_role` may hand out, highest first."""
    if actor_role is None:
        return []
    return [(value, label) for value, label in reversed(Role.choices) if can_grant(actor_role, value)]


class ProfileForm(forms.ModelForm[User]):
    class Meta:
        model = User
        fields = ("full_name",)
        labels = {"full_name": "Full name"}
        help_texts = {"full_name": "Shown to the other members of your organizations."}
        widgets = {"full_name": forms.TextInput(attrs={"autocomplete": "name"})}


class SwitchOrganizationForm(ServiceForm):
    organization = forms.UUIDField(widget=forms.HiddenInput)


class OrganizationCreateForm(ServiceForm):
    name = forms.CharField(
        max_length=120,
        label="Organization name",
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )
    slug = forms.SlugField(
        max_length=60,
        required=False,
        label="Short name",
        help_text="Lower-case letters, digits and hyphens, used in links. Leave it empty to derive it from the name.",
    )
    home_region_code = forms.CharField(
        max_length=32,
        label="Home region",
        validators=[region_code_validator],
        help_text="The region that stores this organization's data, such as us-east or eu-west.",
    )

    def clean_slug(self) -> str:
        slug: str = self.cleaned_data.get("slug") or ""
        if slug and Organization.objects.filter(slug=slug).exists():
            raise ValidationError("That short name is taken.", code="slug_taken")
        return slug

    def clean_home_region_code(self) -> str:
        return str(self.cleaned_data["home_region_code"]).strip().lower()


class OrganizationSettingsForm(ServiceForm):
    name = forms.CharField(max_length=120, label="Organization name")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Several forms share the organization page; their element ids must not collide.
        kwargs.setdefault("auto_id", "settings_%s")
        super().__init__(*args, **kwargs)


class MemberRoleForm(ServiceForm):
    """Change one member's role; the choices are the roles the signed-in person may grant."""

    role = forms.ChoiceField(choices=())

    def __init__(self, *args: Any, roles: Iterable[tuple[str, str]], label: str = "Role", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["role"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = list(roles)
        field.label = label


class TeamCreateForm(ServiceForm):
    name = forms.CharField(max_length=120, label="Team name")
    parent = forms.ModelChoiceField(
        queryset=Team.objects.none(),
        required=False,
        label="Parent team",
        empty_label="None (a top-level team)",
    )
    description = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Description",
    )
    role = forms.ChoiceField(
        required=False,
        choices=(),
        label="Role for its members",
        help_text="Members of this team and of every team inside it hold at least this role.",
    )

    def __init__(
        self, *args: Any, teams: list[tuple[Team, int]], roles: Iterable[tuple[str, str]] = (), **kwargs: Any
    ) -> None:
        """`teams` is the organization's tree flattened as (team, depth), which also orders the choices."""
        kwargs.setdefault("auto_id", "team_%s")
        super().__init__(*args, **kwargs)
        role_field = self.fields["role"]
        assert isinstance(role_field, forms.ChoiceField)
        role_field.choices = [("", "None (their own role applies)"), *roles]
        field = self.fields["parent"]
        assert isinstance(field, forms.ModelChoiceField)
        depth_of = {team.pk: depth for team, depth in teams}
        ids = [team.pk for team, _ in teams]
        field.queryset = Team.objects.filter(pk__in=ids)
        # The choices follow the tree and show nesting, without another query per team.
        field.choices = [("", field.empty_label or "")] + [
            (str(team.pk), f"{'— ' * depth_of[team.pk]}{team.name}") for team, _ in teams
        ]


class InvitationForm(ServiceForm):
    email = forms.EmailField(label="Email address", widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(choices=(), initial=Role.VIEWER)
    team = forms.ModelChoiceField(
        queryset=Team.objects.none(),
        required=False,
        label="Add to team",
        empty_label="No team",
    )

    def __init__(
        self, *args: Any, roles: Iterable[tuple[str, str]], teams: list[tuple[Team, int]], **kwargs: Any
    ) -> None:
        kwargs.setdefault("auto_id", "invite_%s")
        super().__init__(*args, **kwargs)
        role_field = self.fields["role"]
        assert isinstance(role_field, forms.ChoiceField)
        role_field.choices = list(roles)
        team_field = self.fields["team"]
        assert isinstance(team_field, forms.ModelChoiceField)
        team_field.queryset = Team.objects.filter(pk__in=[team.pk for team, _ in teams])
        team_field.choices = [("", team_field.empty_label or "")] + [
            (str(team.pk), f"{'— ' * depth}{team.name}") for team, depth in teams
        ]

    def clean_email(self) -> str:
        return str(self.cleaned_data["email"]).strip().lower()


class RoutedLoginForm(LoginForm):
    """allauth's sign-in form, explaining (rather than a generic mismatch) when SSO is required."""

    def clean(self) -> dict[str, Any]:
        from apps.accounts.selectors import organization_for_email_domain, password_sign_in_refused

        login = str(self.cleaned_data.get("login") or "").strip().lower()
        if login:
            routed = organization_for_email_domain(login)
            user = User.objects.filter(email__iexact=login).first() if routed is not None else None
            refused_by = password_sign_in_refused(user) if user is not None else None
            if refused_by is not None and refused_by == routed:
                raise ValidationError(
                    f"{refused_by.name} requires single sign-on: continue with your organization's sign-in.",
                    code="sso_required",
                )
        return super().clean()


class SignInEmailForm(forms.Form):
    """The first step of signing in: the email address decides where the person signs in."""

    login = forms.EmailField(
        label="Work email",
        widget=forms.EmailInput(attrs={"autocomplete": "email", "placeholder": "you@company.com"}),
    )


# -- Sign-in policy, single sign-on, OAuth apps and SCIM ------------------------------------------------------


class SecurityPolicyForm(ServiceForm):
    require_mfa = forms.BooleanField(
        required=False,
        label="Require two-factor authentication",
        help_text="Members without a second factor are sent to enrol before they can do anything else.",
    )
    require_sso = forms.BooleanField(
        required=False,
        label="Require single sign-on",
        help_text="Members sign in through your identity provider; passwords are refused (break-glass owner excepted).",
    )
    break_glass_user = forms.ModelChoiceField(
        queryset=User.objects.none(),
        required=False,
        label="Break-glass owner",
        empty_label="Nobody",
        help_text="One owner who can still use a password if your identity provider is down.",
    )
    idle_timeout_minutes = forms.IntegerField(
        required=False, min_value=5, label="Idle timeout (minutes)", help_text="Empty: 12 hours."
    )
    absolute_timeout_minutes = forms.IntegerField(
        required=False, min_value=15, label="Session lifetime (minutes)", help_text="Empty: 7 days."
    )

    def __init__(self, *args: Any, owners: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "policy_%s")
        super().__init__(*args, **kwargs)
        field = self.fields["break_glass_user"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = owners


class EmailDomainForm(ServiceForm):
    domain = forms.CharField(max_length=253, label="Email domain", help_text="For example example.com.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "domain_%s")
        super().__init__(*args, **kwargs)


def _json_field(label: str, help_text: str) -> forms.JSONField:
    return forms.JSONField(
        required=False, label=label, help_text=help_text, widget=forms.Textarea(attrs={"rows": 4, "class": "mono"})
    )


class SamlIdpForm(ServiceForm):
    metadata_xml = forms.CharField(
        required=False,
        label="IdP metadata (XML)",
        widget=forms.Textarea(attrs={"rows": 6, "class": "mono", "spellcheck": "false"}),
        help_text="Paste it here, upload the file, or give its URL.",
    )
    metadata_file = forms.FileField(required=False, label="Or upload the metadata file")
    metadata_url = forms.URLField(required=False, label="Or its metadata URL", assume_scheme="https")
    attribute_map = _json_field(
        "Attribute map", 'Our field -> the assertion\'s attribute, e.g. {"email": "mail", "groups": "memberOf"}.'
    )
    group_map = _json_field(
        "Group map", 'A list of {"group": "...", "team": "<team short name>", "role": "developer"}.'
    )
    default_role = forms.ChoiceField(choices=(), label="Role of new members")
    is_enabled = forms.BooleanField(required=False, initial=True, label="Enabled")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "saml_%s")
        super().__init__(*args, **kwargs)
        field = self.fields["default_role"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(v, label) for v, label in reversed(Role.choices) if v != Role.OWNER]

    def clean_metadata_file(self) -> str:
        upload = self.cleaned_data.get("metadata_file")
        if not upload:
            return ""
        if upload.size > 2 * 1024 * 1024:
            raise ValidationError("The metadata file is too large.", code="too_large")
        return str(upload.read().decode("utf-8", errors="replace"))

    def clean_attribute_map(self) -> Any:
        value = self.cleaned_data.get("attribute_map")
        if value in (None, ""):
            return None
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ValidationError("An object of field names to attribute names.", code="invalid")
        return value

    def clean_group_map(self) -> Any:
        value = self.cleaned_data.get("group_map")
        if value in (None, ""):
            return []
        if not isinstance(value, list) or not all(isinstance(rule, dict) and rule.get("group") for rule in value):
            raise ValidationError('A list of objects, each with a "group".', code="invalid")
        return value


class OidcIdpForm(ServiceForm):
    issuer = forms.URLField(label="Issuer URL", assume_scheme="https")
    client_id = forms.CharField(max_length=200, label="Client id")
    client_secret = forms.CharField(
        required=False,
        label="Client secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Leave empty to keep the stored secret.",
    )
    groups_claim = forms.CharField(max_length=100, required=False, initial="groups", label="Groups claim")
    group_map = _json_field("Group map", 'A list of {"group": "...", "team": "...", "role": "..."}.')
    default_role = forms.ChoiceField(choices=(), label="Role of new members")
    is_enabled = forms.BooleanField(required=False, initial=True, label="Enabled")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "oidc_%s")
        super().__init__(*args, **kwargs)
        field = self.fields["default_role"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(v, label) for v, label in reversed(Role.choices) if v != Role.OWNER]

    def clean_group_map(self) -> Any:
        return SamlIdpForm.clean_group_map(self)  # type: ignore[arg-type]


class ScimTokenForm(ServiceForm):
    name = forms.CharField(max_length=100, label="Token name", initial="Identity provider")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "scim_%s")
        super().__init__(*args, **kwargs)


class OAuthAppForm(ServiceForm):
    name = forms.CharField(max_length=120, label="App name")
    kind = forms.ChoiceField(
        choices=(
            ("web", "Web app: acts for a person (authorization code with PKCE)"),
            ("native", "Native app or CLI: acts for a person, keeps no secret (PKCE, loopback redirect)"),
            ("machine", "Machine client: acts for the organization (client credentials)"),
        ),
        widget=forms.RadioSelect,
        initial="web",
        label="Kind",
    )
    scopes = forms.MultipleChoiceField(choices=(), widget=forms.CheckboxSelectMultiple, label="Allowed scopes")
    redirect_uris = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}),
        label="Redirect URIs",
        help_text="One per line; web apps, and native apps (loopback only, default http://127.0.0.1/callback).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from apps.accounts.scopes import API_SCOPES

        kwargs.setdefault("auto_id", "app_%s")
        super().__init__(*args, **kwargs)
        field = self.fields["scopes"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(name, f"{name} — {text}") for name, text in API_SCOPES.items()]

    def clean_redirect_uris(self) -> list[str]:
        return [line.strip() for line in str(self.cleaned_data.get("redirect_uris") or "").splitlines() if line.strip()]
