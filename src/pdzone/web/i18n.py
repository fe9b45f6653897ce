"""Console strings in zh-CN (the default) and English, by message id.

Templates call `_("key", name=...)` (bound to the page language) or `t(lang, "key")`. Domain
errors carry their own two messages (`PdzoneError.message(lang)`); role, organization-kind and
zone-type names come from the domain tables so that the CLI, API and console agree.
"""

from __future__ import annotations

from pdzone.governance.actions import ZONE_TYPE_NAMES, ZoneType
from pdzone.identity.actions import ORG_KIND_NAMES, OrgKind
from pdzone.identity.roles import ROLE_NAMES, Role

LANGS = ("zh", "en")
HTML_LANG = {"zh": "zh-CN", "en": "en"}

MESSAGES: dict[str, tuple[str, str]] = {
    # --- frame -------------------------------------------------------------------------
    "app.name": ("公共数据专区平台", "Public Data Zone Platform"),
    "app.tagline": ("公共数据授权运营 · 原始数据不出域，数据可用不可见",
                    "Authorized operation of public data · raw data never leaves the zone"),
    "nav.home": ("首页", "Home"),
    "nav.directory": ("机构与用户", "Organizations & users"),
    "nav.filings": ("人员备案", "Staff filing"),
    "nav.log": ("操作日志", "Operation log"),
    "nav.checkpoints": ("检查点", "Checkpoints"),
    "nav.logout": ("退出登录", "Sign out"),
    "nav.main": ("主导航", "Main navigation"),
    "lang.switch": ("语言", "Language"),
    "footer.note": ("页面时间均为北京时间（UTC+8）。您在本平台的操作均记入操作日志。",
                    "Times are Beijing time (UTC+8). Everything you do here is recorded in the operation log."),
    # --- login -------------------------------------------------------------------------
    "login.title": ("登录", "Sign in"),
    "login.intro": ("请使用实名账号登录。系统管理员、安全管理员和审计员须输入动态口令。",
                    "Sign in with your real-name account. Administrators and auditors also enter "
                    "their one-time code."),
    "login.username": ("用户名", "Username"),
    "login.password": ("密码", "Password"),
    "login.otp": ("动态口令", "One-time code"),
    "login.otp_hint": ("6 位数字，见您的身份验证器；管理员和审计员必填", "6 digits from your authenticator app; "
                       "required for administrators and auditors"),
    "login.submit": ("登录", "Sign in"),
    "login.expired": ("登录已过期或已失效，请重新登录。", "Your session has expired; please sign in again."),
    "login.signed_out": ("您已安全退出。", "You have signed out."),
    "login.csrf_failed": ("登录表单已过期，请重新输入后提交。", "The sign-in form had expired; please enter your "
                          "details again."),
    # --- errors ------------------------------------------------------------------------
    "error.title.401": ("请先登录", "Please sign in"),
    "error.title.403": ("无权访问", "Access denied"),
    "error.title.404": ("找不到该内容", "Not found"),
    "error.title.409": ("操作冲突", "Conflict"),
    "error.title.422": ("提交的内容无效", "Invalid input"),
    "error.title.500": ("服务器内部错误", "Internal error"),
    "error.title.generic": ("请求未能完成", "The request could not be completed"),
    "error.denied_recorded": ("本次访问已记入操作日志。如需此权限，请联系安全管理员。",
                              "This attempt has been recorded. Ask your security administrator if you "
                              "need this permission."),
    "error.invalid_form": ("表单内容无效（缺少字段或内容过长）",
                           "The form is invalid (a field is missing or too long)"),
    "error.internal": ("服务器内部错误，已记录。请稍后重试或联系系统管理员。",
                       "Something went wrong on our side; it has been logged. Try again later or contact "
                       "the system administrator."),
    "error.csrf": ("表单校验失败（CSRF），请刷新页面后重试", "The form check failed (CSRF): reload the page and try "
                   "again"),
    "error.request_id": ("请求编号", "Request ID"),
    "error.code": ("错误代码", "Error code"),
    "error.back_home": ("返回首页", "Back to the home page"),
    # --- home --------------------------------------------------------------------------
    "home.title": ("工作台", "Workbench"),
    "home.greeting": ("您好，{name}", "Hello, {name}"),
    "home.org": ("所属机构", "Organization"),
    "home.roles": ("角色", "Roles"),
    "home.scope_all": ("全平台", "platform-wide"),
    "home.tasks": ("我的工作", "Your tasks"),
    "home.no_tasks": ("您的角色目前没有需要在控制台处理的事项。", "There is nothing for your roles to do in the "
                      "console yet."),
    "task.directory_manage": ("管理机构与用户账号", "Manage organizations and user accounts"),
    "task.directory_read": ("查阅机构与用户", "View organizations and users"),
    "task.filings": ("待备案人员：{n} 人", "Staff awaiting filing: {n}"),
    "task.roles": ("授予角色", "Grant roles"),
    "task.log_review": ("审查操作日志中尚未审查的事件", "Review the operation log's unreviewed events"),
    "task.log_all": ("查阅操作日志", "Read the operation log"),
    "task.log_zone": ("查阅本专区操作日志：{zone}", "Read your zone's operation log: {zone}"),
    "task.cosign": ("待会签的检查点：{n} 个", "Checkpoints awaiting your countersignature: {n}"),
    "task.verify": ("验证操作日志的完整性", "Verify the integrity of the operation log"),
    # --- common ------------------------------------------------------------------------
    "common.none": ("无", "none"),
    "common.any": ("全部", "Any"),
    "common.empty": ("暂无记录", "Nothing here yet"),
    "status.active": ("正常", "Active"),
    "status.disabled": ("已停用", "Disabled"),
    # --- directory ---------------------------------------------------------------------
    "dir.title": ("机构与用户", "Organizations and users"),
    "dir.orgs": ("机构", "Organizations"),
    "dir.users": ("用户", "Users"),
    "dir.masked_note": ("身份证号码和手机号码仅显示脱敏后的形式。", "ID and mobile numbers are shown masked only."),
    "dir.add_org": ("新增机构", "Add an organization"),
    "dir.add_user": ("新增用户（实名注册）", "Add a user (real-name registration)"),
    "dir.mfa_yes": ("已开通", "enrolled"),
    "dir.mfa_no": ("未开通", "not enrolled"),
    "dir.warnings": ("提示：{text}", "Note: {text}"),
    "dir.read_only": ("您可以查阅机构与用户；新增由系统管理员办理。", "You may read the directory; the system "
                      "administrator adds organizations and users."),
    "col.name": ("名称", "Name"),
    "col.kind": ("类型", "Kind"),
    "col.uscc": ("统一社会信用代码", "USCC"),
    "col.zone": ("专区", "Zone"),
    "col.status": ("状态", "Status"),
    "col.username": ("用户名", "Username"),
    "col.real_name": ("姓名", "Name"),
    "col.id_number": ("身份证号码", "ID number"),
    "col.mobile": ("手机号码", "Mobile"),
    "col.org": ("所属机构", "Organization"),
    "col.roles": ("角色", "Roles"),
    "col.mfa": ("动态口令", "One-time code"),
    "field.org_name": ("机构名称", "Organization name"),
    "field.kind": ("机构类型", "Kind"),
    "field.uscc": ("统一社会信用代码", "Unified social credit code (USCC)"),
    "field.org_zone": ("所属专区（可选）", "Zone (optional)"),
    "field.username": ("用户名", "Username"),
    "field.username_hint": ("3-64 位小写字母、数字、点、下划线或连字符，以字母开头",
                            "3-64 of a-z 0-9 . _ -, starting with a letter"),
    "field.real_name": ("姓名", "Real name"),
    "field.id_number": ("身份证号码", "Resident ID number"),
    "field.mobile": ("手机号码", "Mobile number"),
    "field.org": ("所属机构", "Organization"),
    "field.password": ("初始密码", "Initial password"),
    "field.password_hint": ("至少 {n} 位", "at least {n} characters"),
    "btn.create": ("创建", "Create"),
    "ok.org_created": ("机构已创建。", "The organization was created."),
    "ok.user_created": ("用户已创建。", "The user was created."),
    # --- filing and roles --------------------------------------------------------------
    "filing.title": ("人员备案与角色", "Staff filing and roles"),
    "filing.intro": ("处理专区数据的人员须经备案（R-21.1）；备案和撤销均须说明理由，并记入操作日志。",
                     "People who process a zone's data must be filed (R-21.1); filing and revoking need a "
                     "reason and are recorded in the operation log."),
    "filing.pending": ("待备案", "Pending"),
    "filing.filed": ("已备案", "Filed"),
    "filing.revoked": ("已撤销", "Revoked"),
    "col.person": ("人员", "Person"),
    "col.requested_at": ("申请时间", "Requested"),
    "col.request_reason": ("申请事由", "Request"),
    "col.decision_reason": ("决定理由", "Reason"),
    "col.decided": ("决定人 / 时间", "Decided by / at"),
    "col.action": ("操作", "Action"),
    "field.reason": ("理由（必填）", "Reason (required)"),
    "btn.file": ("准予备案", "File"),
    "btn.revoke": ("撤销备案", "Revoke"),
    "btn.refile": ("重新备案", "File again"),
    "ok.filed": ("已备案。", "Filed."),
    "ok.revoked": ("备案已撤销。", "The filing was revoked."),
    "role.title": ("授予角色", "Grant a role"),
    "role.sod_note": ("三权分立：系统管理员、安全管理员、审计员不得由同一账号兼任。",
                      "Separation of duties: one account holds at most one of system administrator, "
                      "security administrator and auditor."),
    "field.user": ("用户", "User"),
    "field.role": ("角色", "Role"),
    "field.role_zone": ("专区（留空为全平台）", "Zone (empty: platform-wide)"),
    "field.platform_wide": ("全平台", "Platform-wide"),
    "btn.grant": ("授予", "Grant"),
    "ok.role_granted": ("角色已授予。", "The role was granted."),
    "role.totp_once": ("该用户已开通动态口令。请通过安全渠道把以下密钥交给本人；离开本页后不再显示：",
                       "A one-time-code secret was enrolled for this user. Hand it over through a safe "
                       "channel; it is not shown again after you leave this page:"),
    # --- operation log -----------------------------------------------------------------
    "log.title": ("操作日志", "Operation log"),
    "log.scope_all": ("查阅范围：全平台", "Scope: every zone and the city level"),
    "log.scope_zones": ("查阅范围：{zones}", "Scope: {zones}"),
    "log.filters": ("筛选", "Filter"),
    "field.action": ("操作（前缀）", "Action (prefix)"),
    "field.outcome": ("结果", "Outcome"),
    "field.actor": ("操作人", "Actor"),
    "field.zone": ("专区", "Zone"),
    "field.unreviewed": ("仅显示未审查", "Unreviewed only"),
    "btn.filter": ("筛选", "Filter"),
    "btn.reset": ("清除筛选", "Clear"),
    "col.seq": ("序号", "Seq"),
    "col.time": ("时间", "Time"),
    "col.actor": ("操作人", "Actor"),
    "col.event_action": ("操作", "Action"),
    "col.target": ("对象", "Target"),
    "col.outcome": ("结果", "Outcome"),
    "col.review": ("审查", "Review"),
    "outcome.success": ("成功", "success"),
    "outcome.denied": ("拒绝", "denied"),
    "outcome.failed": ("失败", "failed"),
    "log.pending_seq": ("待入树", "pending"),
    "log.details": ("详情", "Details"),
    "log.proof": ("包含证明", "Inclusion proof"),
    "log.not_reviewed": ("未审查", "not reviewed"),
    "log.review_by": ("{who}：{verdict}", "{who}: {verdict}"),
    "log.review_form": ("审查", "Review"),
    "verdict.ok": ("无异常", "no concern"),
    "verdict.concern": ("存在问题", "concern"),
    "field.verdict": ("结论", "Verdict"),
    "field.comment": ("审查意见", "Comment"),
    "btn.review": ("标记已审查", "Mark reviewed"),
    "ok.reviewed": ("审查意见已记录。", "The review was recorded."),
    "log.review_error": ("事件 {id} 的审查未能保存：{msg}", "The review of event {id} was not saved: {msg}"),
    "log.empty": ("没有符合条件的事件。", "No events match."),
    "log.count": ("共显示 {n} 条，按时间倒序。", "{n} events, newest first."),
    "log.older": ("更早的事件", "Older events"),
    "log.verify_title": ("日志完整性", "Log integrity"),
    "log.verify_hint": ("重新计算全部事件的默克尔树，并核对每个签名检查点。",
                        "Recompute the Merkle tree of every event and check it against each signed checkpoint."),
    "log.verify_btn": ("立即验证", "Verify now"),
    "log.verify_not_run": ("尚未验证。", "Not verified yet."),
    "log.verify.intact": ("完整", "Intact"),
    "log.verify.tampered": ("已被篡改", "Tampered"),
    "log.verify.unverifiable": ("无法验证", "Could not verify"),
    "log.tree_size": ("树大小：{n}", "Tree size: {n}"),
    "log.checkpoints_checked": ("已核对检查点：{n}", "Checkpoints checked: {n}"),
    "log.pending_events": ("已提交待入树事件：{n}", "Committed, not yet integrated: {n}"),
    "log.first_bad": ("首个异常事件序号：{n}", "First bad event seq: {n}"),
    # --- checkpoints -------------------------------------------------------------------
    "cp.title": ("签名检查点", "Signed checkpoints"),
    "cp.intro": ("检查点是平台对日志树根哈希的签名。请把检查点文件保存在平台之外，日后可据此核验日志未被改写；"
                 "监管人员可用本人见证密钥会签。",
                 "A checkpoint is the platform's signature over the log's root hash. Keep checkpoint files "
                 "outside the platform to prove later that the log was not rewritten; supervisors "
                 "countersign with their own witness key."),
    "cp.download_latest": ("下载最新检查点（JSON）", "Download the latest checkpoint (JSON)"),
    "cp.none": ("尚无检查点。", "No checkpoints yet."),
    "col.id": ("编号", "ID"),
    "col.tree_size": ("事件数", "Tree size"),
    "col.root": ("根哈希", "Root hash"),
    "col.issued_at": ("签发时间", "Issued"),
    "col.key_id": ("签名密钥", "Key"),
    "col.cosignatures": ("会签", "Countersignatures"),
    "cp.no_cosign": ("尚无会签", "none yet"),
    "cp.cosign_by": ("{who}，密钥 {key}，{time}", "{who}, key {key}, {time}"),
    "cp.body": ("签名内容", "Signed text"),
    "cp.mine": ("您已会签", "You have countersigned"),
    "cp.cosign": ("会签", "Countersign"),
    "field.key_id": ("见证密钥编号", "Witness key ID"),
    "field.signature": ("签名（十六进制）", "Signature (hex)"),
    "btn.cosign": ("提交会签", "Submit countersignature"),
    "ok.cosigned": ("会签已记录。", "The countersignature was recorded."),
    "cp.witness_title": ("登记见证公钥", "Register your witness key"),
    "cp.witness_hint": ("会签前须登记本人见证公钥（私钥由您自行保管，不上传平台）。",
                        "Register the public half of your witness key before you countersign; the private "
                        "key stays with you."),
    "field.public_pem": ("公钥（PEM）", "Public key (PEM)"),
    "field.suite": ("密码套件", "Crypto suite"),
    "suite.gm": ("国密（SM2/SM3）", "GM (SM2/SM3)"),
    "suite.intl": ("国际（Ed25519/SHA-256）", "International (Ed25519/SHA-256)"),
    "btn.register": ("登记", "Register"),
    "cp.key_registered": ("见证公钥已登记，密钥编号：{key_id}", "Witness key registered; key ID: {key_id}"),
    "cp.proof_title": ("下载包含证明", "Download an inclusion proof"),
    "cp.proof_hint": ("证明某一事件包含在当前日志树中（RFC 9162）。", "Proves that one event is in the current log "
                      "tree (RFC 9162)."),
    "field.seq": ("事件序号", "Event seq"),
    "btn.download": ("下载", "Download"),
}

# Audit action names for the operation log (the code is shown beside them).
ACTION_NAMES: dict[str, tuple[str, str]] = {
    "governance.zone.create": ("创建专区", "zone created"),
    "identity.org.create": ("创建机构", "organization created"),
    "identity.org.disable": ("停用机构", "organization disabled"),
    "identity.user.create": ("创建用户", "user created"),
    "identity.user.disable": ("停用用户", "user disabled"),
    "identity.user.password_change": ("修改密码", "password changed"),
    "identity.role.grant": ("授予角色", "role granted"),
    "identity.role.revoke": ("撤销角色", "role revoked"),
    "identity.filing.request": ("申请备案", "filing requested"),
    "identity.filing.file": ("准予备案", "filed"),
    "identity.filing.revoke": ("撤销备案", "filing revoked"),
    "identity.session.login": ("登录", "sign-in"),
    "identity.session.logout": ("退出登录", "sign-out"),
    "identity.token.issue": ("签发令牌", "token issued"),
    "identity.token.revoke": ("撤销令牌", "token revoked"),
    "identity.access.check": ("权限检查", "access check"),
    "audit.event.review": ("审查事件", "event reviewed"),
    "audit.checkpoint.cosign": ("会签检查点", "checkpoint countersigned"),
    "audit.witness_key.register": ("登记见证公钥", "witness key registered"),
    "audit.log.export": ("导出日志", "log exported"),
    "system.demo.seed": ("载入演示数据", "demo data loaded"),
}


def both(key: str) -> tuple[str, str]:
    """(zh, en) of a message, for building a domain error from console text."""
    return MESSAGES[key]


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def t(lang: str, key: str, /, **kw: object) -> str:
    """The message `key` in `lang`, formatted with `kw`. An unknown key shows as itself."""
    pair = MESSAGES.get(key)
    if pair is None:
        return key
    text = _pick(pair, lang)
    return text.format(**kw) if kw else text


def role_name(lang: str, role: str) -> str:
    try:
        return _pick(ROLE_NAMES[Role(role)], lang)
    except ValueError:
        return role


def org_kind_name(lang: str, kind: str) -> str:
    try:
        return _pick(ORG_KIND_NAMES[OrgKind(kind)], lang)
    except ValueError:
        return kind


def zone_type_name(lang: str, type_: str) -> str:
    try:
        return _pick(ZONE_TYPE_NAMES[ZoneType(type_)], lang)
    except ValueError:
        return type_


def action_name(lang: str, action: str) -> str:
    """A readable name for an audit action; actions outside the table (denials name a permission) show as is."""
    pair = ACTION_NAMES.get(action)
    return _pick(pair, lang) if pair else action
