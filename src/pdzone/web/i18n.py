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
    "log.denials": ("{s} 秒内同类拒绝共 {n} 次", "×{n} within {s} s"),
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
    # --- catalog (数据目录) ------------------------------------------------------------------
    "nav.catalog": ("数据目录", "Catalog"),
    "task.catalog": ("浏览数据目录", "Browse the data catalog"),
    "task.import": ("导入数据集", "Import a dataset"),
    "home.pending": ("待决定事项", "Decisions waiting for you"),
    "home.pending_none": ("您提供的数据集目前没有待确认的级别。", "No dataset of yours is waiting for a level "
                          "decision."),
    "home.pending_all": ("查看全部待决定事项", "See all pending decisions"),
    "catalog.title": ("数据目录", "Data catalog"),
    "catalog.intro": ("目录只展示元数据。数据本身不出域，只能经出口关口以脱敏预览等形式使用。",
                      "The catalog shows metadata only. The data itself never leaves the zone; it is used only "
                      "through the egress gate, for example as a masked preview."),
    "catalog.search": ("搜索", "Search"),
    "catalog.search_label": ("关键词（名称、标题、说明）", "Keywords (name, title, description)"),
    "catalog.search_btn": ("搜索", "Search"),
    "catalog.facets": ("筛选", "Refine"),
    "catalog.facet.zone": ("专区", "Zone"),
    "catalog.facet.sector": ("领域", "Sector"),
    "catalog.facet.level": ("级别", "Level"),
    "catalog.facet.provider": ("数据提供部门", "Provider"),
    "catalog.clear": ("清除筛选", "Clear filters"),
    "catalog.count": ("共 {n} 个数据集", "{n} datasets"),
    "catalog.empty": ("没有符合条件的数据集。", "No dataset matches."),
    "catalog.no_sector": ("未填写领域", "No sector given"),
    "catalog.import": ("导入数据集", "Import a dataset"),
    "catalog.pending_link": ("待决定事项", "Pending decisions"),
    "catalog.rows": ("{n} 行", "{n} rows"),
    "catalog.pending_badge": ("待确认级别", "level to confirm"),
    "catalog.suggested_short": ("建议 {n} 级", "suggested: level {n}"),
    "catalog.remove_filter": ("取消此筛选", "remove this filter"),
    "level.n": ("{n} 级", "Level {n}"),
    "level.unconfirmed": ("未定级", "Not yet confirmed"),
    "r28.badge": ("不得开放运营", "Not for operation (R-28)"),
    "r28.national_security": ("危害国家安全", "would endanger national security"),
    "r28.public_interest": ("损害公共利益", "would harm the public interest"),
    "r28.agreement": ("获取协议约定不得开放运营", "the acquisition agreement forbids operation"),
    "r28.law": ("法律法规规定不得开放运营", "laws or regulations forbid operation"),
    # --- pending decisions ----------------------------------------------------------------
    "pending.title": ("待决定事项", "Pending decisions"),
    "pending.intro": ("以下数据集的级别尚未确认，或依数据得出的建议级别与已确认级别不一致，"
                      "须由数据提供部门（本单位数据）或安全管理员作出决定。",
                      "These datasets have no confirmed level yet, or the level suggested from their data differs "
                      "from the confirmed one. The provider (for its own data) or the security administrator "
                      "decides."),
    "pending.none": ("目前没有待决定事项。", "Nothing is waiting for a decision."),
    "pending.unconfirmed": ("尚未确认级别（建议 {s}）", "Level not yet confirmed (suggested: {s})"),
    "pending.differs": ("建议 {s} 级，与已确认的 {l} 级不一致", "Suggested level {s} differs from the confirmed "
                        "level {l}"),
    "pending.decide": ("去决定", "Decide"),
    # --- dataset page ---------------------------------------------------------------------
    "dataset.back": ("返回数据目录", "Back to the catalog"),
    "dataset.meta": ("基本信息", "About this dataset"),
    "dataset.name": ("数据集名", "Dataset name"),
    "dataset.title_en": ("英文标题", "English title"),
    "dataset.description": ("说明", "Description"),
    "dataset.provider": ("数据提供部门", "Provider"),
    "dataset.zone": ("专区", "Zone"),
    "dataset.sector": ("领域", "Sector"),
    "dataset.rows": ("行数", "Rows"),
    "dataset.version": ("当前版本", "Current version"),
    "dataset.source_format": ("来源文件格式", "Source format"),
    "dataset.source_encoding": ("来源文件编码", "Source encoding"),
    "dataset.encryption": ("静态加密", "Encryption at rest"),
    "dataset.destroyed": ("数据已销毁（数据密钥已删除）", "data destroyed (its data key was deleted)"),
    "dataset.privacy_unit": ("隐私单元列", "Privacy-unit column"),
    "dataset.source_system": ("来源系统", "Source system"),
    "dataset.update_frequency": ("更新频率", "Update frequency"),
    "dataset.coverage": ("时间 / 空间范围", "Time / space coverage"),
    "dataset.updated": ("最近更新", "Last updated"),
    "dataset.level": ("数据级别", "Level"),
    "dataset.confirmed": ("已确认级别", "Confirmed level"),
    "dataset.basis": ("定级依据", "Basis"),
    "dataset.set_by": ("决定人", "Decided by"),
    "dataset.not_confirmed": ("尚未确认。未确认级别的数据按 4 级（最严格）规则处理。",
                              "Not confirmed yet. Until a person confirms a level, the data is treated as "
                              "level 4 (the strictest rules)."),
    "dataset.suggested": ("建议级别", "Suggested level"),
    "dataset.suggestion_note": ("建议，须人工确认：此建议由系统依据数据内容（识别出的个人信息）得出，不会自动生效；"
                                "级别须由数据提供部门（本单位数据）或安全管理员确认。",
                                "A suggestion that a person must confirm: it is derived from the data (the "
                                "personal information detected) and never applies by itself; the provider (own "
                                "data) or the security administrator confirms the level."),
    "dataset.no_suggestion": ("尚未识别，暂无建议级别。", "Not scanned yet: no suggested level."),
    "dataset.reasons": ("建议理由", "Why"),
    "dataset.no_reasons": ("未识别出个人信息。", "No personal information was detected."),
    "dataset.differs": ("建议级别与已确认级别不一致，请复核。", "The suggested level differs from the confirmed "
                        "level: please review."),
    "dataset.effective": ("出口关口按 {n} 级规则放行。", "The egress gate applies the rules of level {n}."),
    "dataset.r28_title": ("第二十八条（不得开放运营）", "R-28 (not for operation)"),
    "dataset.r28_flagged": ("该数据集已依第二十八条标记为不得开放运营：{reason}。", "This dataset is flagged under "
                            "R-28 and may not be put into operation: {reason}."),
    "dataset.r28_note": ("说明：{note}", "Note: {note}"),
    "dataset.r28_clear": ("未标记。", "Not flagged."),
    "dataset.schema": ("字段与个人信息识别", "Columns and detected personal information"),
    "dataset.schema_note": ("个人信息类型为系统识别的建议；匹配率为抽样中符合该类型的比例，"
                            "置信度为综合列名与取值的判断。“脱敏策略”是出口关口对该列实际执行的规则。",
                            "Detected types are suggestions: the match rate is the share of sampled values that "
                            "fit the type, the confidence combines column name and values. The masking policy is "
                            "what the egress gate applies to the column."),
    "col.column": ("列名", "Column"),
    "col.type": ("数据类型", "Type"),
    "col.pii": ("个人信息类型", "Personal information"),
    "col.match_rate": ("匹配率", "Match rate"),
    "col.confidence": ("置信度", "Confidence"),
    "col.role": ("列角色", "Role"),
    "col.bounds": ("取值边界", "Bounds"),
    "col.public_values": ("公开取值", "Public values"),
    "col.policy": ("脱敏策略", "Masking policy"),
    "dataset.not_pii": ("未识别", "none detected"),
    "dataset.n_values": ("共 {n} 个", "{n} values"),
    "dataset.policy_error": ("脱敏策略无法生效：{msg}", "The masking policy cannot apply: {msg}"),
    "dataset.lineage": ("数据血缘", "Lineage"),
    "dataset.lineage_note": ("图中显示本数据集、其来源数据集和由其加工的产品。", "The chart shows this dataset, the "
                             "datasets it was derived from, and the products made from it."),
    "dataset.lineage_none": ("尚无登记的来源或产品。", "No sources or products are recorded."),
    "dataset.lineage_sources": ("来源：{names}", "Derived from: {names}"),
    "dataset.lineage_products": ("产品：{names}", "Products: {names}"),
    "lineage.self": ("本数据集", "this dataset"),
    "lineage.source": ("来源", "source"),
    "lineage.product": ("产品", "product"),
    "dataset.versions": ("版本记录", "Versions"),
    "col.version": ("版本", "Version"),
    "col.rows": ("行数", "Rows"),
    "col.digest": ("摘要", "Digest"),
    "col.source": ("来源文件", "Source file"),
    "col.created": ("导入时间 / 操作人", "Imported at / by"),
    "dataset.decisions": ("决定记录", "Decisions"),
    "col.decision": ("事项", "Decision"),
    "col.value": ("内容", "Value"),
    "col.basis": ("依据", "Basis"),
    "col.by": ("决定人 / 时间", "By / at"),
    "decision.level": ("定级", "level"),
    "decision.r28": ("第二十八条标记", "R-28 flag"),
    "decision.role": ("列角色", "column role"),
    "decision.bounds": ("取值边界", "bounds"),
    "decision.public_values": ("公开取值", "public values"),
    "dataset.data_derived": ("依数据得出", "derived from the data"),
    # --- decisions (forms) ----------------------------------------------------------------
    "decide.title": ("作出决定", "Decide"),
    "decide.level": ("确认级别", "Confirm the level"),
    "decide.level_hint": ("确认后即成为该数据集的级别规则，并记入操作日志。", "Once confirmed, the level is the "
                          "dataset's rule; the decision is recorded in the operation log."),
    "field.level": ("级别", "Level"),
    "field.choose": ("请选择", "Choose"),
    "field.basis": ("依据（必填）", "Basis (required)"),
    "field.basis_optional": ("依据", "Basis"),
    "btn.confirm_level": ("确认级别", "Confirm level"),
    "decide.r28": ("标记为不得开放运营（第二十八条）", "Flag as not for operation (R-28)"),
    "field.r28_reason": ("事由", "Reason"),
    "field.note": ("说明", "Note"),
    "btn.flag_r28": ("标记", "Flag"),
    "decide.role": ("设定列角色", "Set a column's role"),
    "decide.bounds": ("取值边界与公开取值", "Bounds and public values"),
    "decide.bounds_hint": ("边界和公开取值须来自政策或公开代码表（如 GB/T 2260），不得取自数据本身。",
                           "Bounds and public values must come from policy or public code lists (such as "
                           "GB/T 2260), never from the data itself."),
    "field.column": ("列", "Column"),
    "field.role_col": ("角色", "Role"),
    "field.bounds_lo": ("下界", "Lower bound"),
    "field.bounds_hi": ("上界", "Upper bound"),
    "field.public_values": ("公开取值（每行一个）", "Public values (one per line)"),
    "btn.save": ("保存", "Save"),
    "decide.scan": ("重新识别个人信息", "Scan for personal information again"),
    "decide.scan_hint": ("重新识别各列的个人信息类型并给出建议级别（仅为建议）。", "Detect each column's personal "
                         "information again and suggest a level (suggestions only)."),
    "btn.scan": ("重新识别", "Scan again"),
    "decide.none": ("您可以查阅该数据集；级别等决定由数据提供部门（本单位数据）或安全管理员作出。",
                    "You may read this dataset; levels and other decisions are made by the provider (own data) "
                    "or the security administrator."),
    "dataset.err.bounds": ("边界须为数字，且上下界须同时填写", "bounds are numbers, and both must be given"),
    "ok.level_set": ("级别已确认，并已记入操作日志。", "The level was confirmed and recorded."),
    "ok.r28_flagged": ("已标记为不得开放运营。", "The dataset was flagged under R-28."),
    "ok.column_set": ("列的决定已保存。", "The column decision was saved."),
    "ok.scanned": ("已重新识别个人信息，建议级别已更新（仅为建议）。", "Scanned again; the suggested level was "
                   "updated (a suggestion only)."),
    "ok.imported": ("数据集已导入并加密保存，个人信息识别已完成。下一步：核对识别结果并确认级别。",
                    "The dataset was imported and sealed, and scanned for personal information. Next: check what "
                    "was detected and confirm the level."),
    "ok.imported_unscanned": ("数据集已导入，但个人信息识别未完成，请在本页重新识别。", "The dataset was imported, "
                              "but the scan did not finish: scan it again on this page."),
    # --- masked preview -------------------------------------------------------------------
    "preview.title": ("脱敏预览", "Masked preview"),
    "preview.intro": ("预览经出口关口放行：每列按其脱敏策略处理，放行记入操作日志并生成回执。",
                      "The preview passes the egress gate: every column is masked under its policy, and the release "
                      "is recorded in the operation log with a receipt."),
    "preview.who": ("仅数据提供部门（本单位数据）和已备案的数据加工处理人员可以预览。",
                    "Only the provider (own data) and filed operator staff may preview."),
    "preview.btn": ("生成脱敏预览（{n} 行）", "Show a masked preview ({n} rows)"),
    "preview.r28": ("该数据集不得开放运营（第二十八条），不提供预览。", "This dataset may not be put into operation "
                    "(R-28): no preview."),
    "preview.refused": ("预览被拒绝", "The preview was refused"),
    "preview.policy_row": ("脱敏策略", "Policy"),
    "preview.null": ("空", "null"),
    "preview.receipt": ("放行回执", "Release receipt"),
    "receipt.event": ("审计事件编号", "Audit event"),
    "receipt.digest": ("放行内容摘要", "Digest of what left"),
    "receipt.rows": ("行数", "Rows"),
    "receipt.recipient": ("接收方", "Recipient"),
    "receipt.time": ("放行时间", "Released at"),
    "preview.empty": ("数据集没有行。", "The dataset has no rows."),
    # --- import wizard --------------------------------------------------------------------
    "import.title": ("导入数据集", "Import a dataset"),
    "import.steps": ("导入步骤", "Steps"),
    "import.step1": ("选择文件并填写信息", "Choose the file and describe it"),
    "import.step2": ("上传、加密保存", "Upload and seal"),
    "import.step3": ("识别个人信息、给出建议级别", "Detect personal information, suggest a level"),
    "import.step4": ("由数据提供部门确认级别", "The provider confirms the level"),
    "import.intro": ("支持 CSV（UTF-8 或 GBK/GB18030）、Parquet 和 Excel（.xlsx）。"
                     "文件导入后以数据密钥加密保存于专区内。",
                     "CSV (UTF-8 or GBK/GB18030), Parquet and Excel (.xlsx) are supported. The file is sealed "
                     "under its own data key inside the zone."),
    "import.not_filed": ("您尚未在任何专区备案，不能导入数据。请联系安全管理员办理备案。",
                         "You are not filed (备案) for any zone, so you cannot import. Ask the security "
                         "administrator to file you."),
    "import.file": ("数据文件", "Data file"),
    "import.file_hint": (".csv、.parquet 或 .xlsx；第一行为列名", ".csv, .parquet or .xlsx; the first row holds "
                         "the column names"),
    "import.zone": ("专区", "Zone"),
    "import.name": ("数据集名", "Dataset name"),
    "import.name_hint": ("小写字母开头，仅含小写字母、数字和下划线，如 social_insurance",
                         "starts with a-z; only a-z, 0-9 and _, e.g. social_insurance"),
    "import.provider": ("数据提供部门", "Provider department"),
    "import.title_field": ("中文标题", "Title (Chinese)"),
    "import.level": ("级别（可选）", "Level (optional)"),
    "import.level_none": ("暂不定级（导入后由提供部门确认）", "Not now (the provider confirms it later)"),
    "import.basis": ("定级依据（选择级别时必填）", "Basis (required with a level)"),
    "import.privacy_unit": ("隐私单元列（可选）", "Privacy-unit column (optional)"),
    "import.privacy_unit_hint": ("标识同一个人的列，例如“身份证号”", "the column that identifies one person, e.g. "
                                 "身份证号"),
    "import.submit": ("上传并导入", "Upload and import"),
    "import.error": ("导入未完成：{msg}", "Nothing was imported: {msg}"),
    "import.where.line": ("位置：第 {n} 行", "Where: line {n}"),
    "import.where.column": ("位置：第 {n} 列", "Where: column {n}"),
    "import.where.byte_offset": ("位置：第 {n} 字节处", "Where: at byte {n}"),
    "import.where.columns": ("涉及的列：{names}", "Columns: {names}"),
    "import.err.no_file": ("请选择要上传的文件", "choose a file to upload"),
    "import.uploading": ("正在上传：{pct}%", "Uploading: {pct}%"),
    "import.working": ("上传完成，正在提交后台导入……", "Uploaded; queueing the import…"),
    "import.failed": ("上传中断，请检查网络后重试。", "The upload was interrupted; check the connection and try "
                      "again."),
    "import.progress": ("进度", "Progress"),
    "ok.import_queued": ("文件已上传，正在后台导入。本页显示进度，完成后可打开数据集。", "The file was uploaded and "
                         "is being imported in the background. This page shows the progress and links to the dataset "
                         "when it is done."),
    # --- background jobs ------------------------------------------------------------------
    "job.title": ("后台任务 #{id}", "Job #{id}"),
    "job.kind.catalog.import": ("导入数据集", "Dataset import"),
    "job.status.queued": ("排队中", "Queued"),
    "job.status.running": ("正在执行", "Running"),
    "job.status.succeeded": ("已完成", "Done"),
    "job.status.failed": ("未完成", "Failed"),
    "job.step.reading": ("正在读取文件", "Reading the file"),
    "job.step.encrypting": ("正在加密保存", "Sealing the data"),
    "job.step.cataloguing": ("正在登记到数据目录", "Cataloguing"),
    "job.step.scanning": ("正在识别个人信息", "Detecting personal information"),
    "job.step.requeued": ("执行进程中断，已重新排队", "The worker stopped; queued again"),
    "job.step.done": ("完成", "Done"),
    "job.step.failed": ("未完成", "Failed"),
    "job.intro": ("导入在后台执行，关闭本页不会中断导入。", "The import runs in the background: closing this page "
                  "does not stop it."),
    "job.progress": ("进度", "Progress"),
    "job.auto_refresh": ("本页会自动更新。", "This page updates by itself."),
    "job.refresh": ("刷新", "Refresh"),
    "job.succeeded": ("导入完成：数据已加密保存并登记到数据目录。", "The import is done: the data is sealed and "
                      "catalogued."),
    "job.unscanned": ("个人信息识别未完成，请在数据集页面重新识别。", "The scan for personal information did not "
                      "finish: scan again on the dataset's page."),
    "job.open_dataset": ("打开数据集 {name}", "Open dataset {name}"),
    "job.nothing_left": ("未留下任何内容：没有登记数据集，也没有保存数据。", "Nothing was left behind: no dataset "
                         "was catalogued and no data was kept."),
    "job.import_again": ("重新导入", "Import again"),
    "job.back_import": ("返回导入页面", "Back to the import"),
    "job.dataset": ("数据集名", "Dataset"),
    "job.source": ("来源文件", "Source file"),
    "job.zone": ("专区", "Zone"),
    "job.created_by": ("提交人", "Submitted by"),
    "job.created_at": ("提交时间", "Submitted at"),
    "job.started_at": ("开始时间", "Started at"),
    "job.finished_at": ("结束时间", "Finished at"),
    "job.attempts": ("执行次数", "Runs"),
    # --- masking policy form --------------------------------------------------------------
    "decide.mask": ("列的脱敏策略", "A column's masking policy"),
    "decide.mask_hint": ("选择出口关口对该列执行的脱敏操作，只填写该操作用到的参数。识别为个人信息的列不能原样输出；"
                         "2 级及以上数据的列须脱敏，除非明确放行。",
                         "Choose the operator the egress gate applies to the column, and only that operator's "
                         "parameters. A column detected as personal information is never let out raw; columns of "
                         "data above level 1 are masked unless explicitly released."),
    "field.mask_op": ("脱敏操作", "Operator"),
    "field.mask_params": ("参数", "Parameters"),
    "param.keep_first": ("保留前几位（部分屏蔽）", "Keep first (partial)"),
    "param.keep_last": ("保留后几位（部分屏蔽）", "Keep last (partial)"),
    "param.mask_char": ("屏蔽字符（部分屏蔽）", "Mask character (partial)"),
    "param.mask_len": ("固定屏蔽位数（部分屏蔽，可空）", "Fixed mask length (partial, optional)"),
    "param.replacement": ("替换文字（删除，可空）", "Replacement text (redact, optional)"),
    "param.band_width": ("分段宽度（年龄分段）", "Band width (age band)"),
    "param.cap": ("上限（年龄分段、顶部编码）", "Cap (age band, top coding)"),
    "param.floor": ("下限（底部编码）", "Floor (bottom coding)"),
    "param.granularity": ("地址保留到（地址泛化）", "Address kept to (address)"),
    "param.region_digits": ("保留地区码位数（身份证号泛化）", "Region digits kept (ID number)"),
    "param.keep_sex": ("保留性别（身份证号泛化）", "Keep the sex (ID number)"),
    "param.min_count": ("最少出现次数（局部抑制）", "Minimum count (suppress)"),
    "param.released": ("明确放行原样输出（原样保留，2 级及以上数据）", "Explicitly release as is (keep, data above "
                       "level 1)"),
    "granularity.district": ("区县", "district"),
    "granularity.city": ("地市", "city"),
    "granularity.province": ("省级", "province"),
    "dataset.err.mask_number": ("脱敏策略无效：参数 {name} 须为数字", "invalid masking policy: parameter {name} must "
                                "be a number"),
    "ok.mask_set": ("脱敏策略已保存，并已记入操作日志。", "The masking policy was saved and recorded."),
    "decision.mask_policy": ("脱敏策略", "masking policy"),
    # --- names of things ------------------------------------------------------------------
    "pii.resident_id": ("居民身份证号码", "Resident ID number"),
    "pii.uscc": ("统一社会信用代码", "Unified social credit code"),
    "pii.mobile": ("手机号码", "Mobile number"),
    "pii.landline": ("固定电话", "Landline number"),
    "pii.bank_card": ("银行卡号", "Bank card number"),
    "pii.email": ("电子邮箱", "E-mail address"),
    "pii.plate": ("机动车号牌", "Vehicle plate"),
    "pii.passport": ("护照号码", "Passport number"),
    "pii.person_name": ("姓名", "Person's name"),
    "pii.address": ("地址", "Address"),
    "pii.birth_date": ("出生日期", "Birth date"),
    "pii.ip_address": ("IP 地址", "IP address"),
    "pii.coordinates": ("经纬度", "Coordinates"),
    "sector.credit": ("信用", "Credit"),
    "sector.transport": ("交通", "Transport"),
    "sector.medical": ("医疗", "Medical care"),
    "sector.health": ("卫生健康", "Health"),
    "sector.employment": ("就业", "Employment"),
    "sector.social_security": ("社保", "Social security"),
    "sector.geography": ("地理空间", "Geography"),
    "sector.culture": ("文化", "Culture"),
    "sector.education": ("教育", "Education"),
    "sector.science": ("科技", "Science and technology"),
    "sector.resources": ("资源", "Natural resources"),
    "sector.agriculture": ("农业", "Agriculture"),
    "sector.environment": ("环境", "Environment"),
    "sector.work_safety": ("安全生产", "Work safety"),
    "sector.finance": ("金融", "Finance"),
    "sector.quality": ("质量", "Quality"),
    "sector.statistics": ("统计", "Statistics"),
    "sector.meteorology": ("气象", "Meteorology"),
    "sector.enterprise_registration": ("企业登记监管", "Enterprise registration"),
    "role_col.dimension": ("维度", "dimension"),
    "role_col.measure": ("度量", "measure"),
    "role_col.identifier": ("标识符", "identifier"),
    "role_col.join_key": ("关联键", "join key"),
    "mask.keep": ("原样保留", "kept as is"),
    "mask.partial": ("部分屏蔽", "partly masked"),
    "mask.redact": ("删除", "redacted"),
    "mask.pseudonym": ("假名化", "pseudonymized"),
    "mask.age_band": ("年龄分段", "age band"),
    "mask.date_month": ("日期保留到月", "date to the month"),
    "mask.date_year": ("日期保留到年", "date to the year"),
    "mask.address_district": ("地址泛化", "address generalized"),
    "mask.id_generalize": ("身份证号泛化", "ID number generalized"),
    "mask.top_code": ("顶部编码", "top-coded"),
    "mask.bottom_code": ("底部编码", "bottom-coded"),
    "mask.suppress": ("局部抑制", "suppressed when rare"),
    "encoding.utf-8": ("UTF-8", "UTF-8"),
    "encoding.utf-8-bom": ("UTF-8（带 BOM）", "UTF-8 (with BOM)"),
    "encoding.gb18030": ("GB18030（兼容 GBK）", "GB18030 (GBK-compatible)"),
    "enc.gm": ("国密 SM4-GCM，数据密钥经密钥加密密钥封装", "GM SM4-GCM, data key wrapped by the key-encryption key"),
    "enc.intl": ("AES-256-GCM，数据密钥经密钥加密密钥封装", "AES-256-GCM, data key wrapped by the key-encryption key"),
    # --- clean-room workbench (分析工作台) -------------------------------------------------
    "nav.workbench": ("分析工作台", "Analysis workbench"),
    "nav.approvals": ("查询审批", "Query approvals"),
    "task.workbench": ("在授权范围内查询数据（数据可用不可见）", "Query the data granted to you (usable, not "
                       "visible)"),
    "task.approvals": ("待审批的四级数据查询：{n} 个", "Level-4 queries awaiting approval: {n}"),
    "wb.title": ("分析工作台", "Analysis workbench"),
    "wb.intro": ("在授权的应用场景内用 SQL 查询数据：只返回统计结果，原始数据不出域。每次放行均经出口关口、"
                 "计入隐私预算并记入操作日志。", "Query the data granted for a scenario with SQL: only statistics "
                 "leave, never the raw data. Every answer passes the egress gate, is charged to your privacy budget "
                 "and recorded in the operation log."),
    "wb.scenario": ("应用场景", "Scenario"),
    "wb.switch": ("切换", "Switch"),
    "wb.no_grant": ("您的机构目前没有有效的应用场景授权，请联系专区运营单位。", "Your organization holds no live "
                    "grant for any scenario: ask the zone's operator."),
    "wb.budget": ("隐私预算", "Privacy budget"),
    "wb.budget_note": ("ε 越小越安全。授权的总预算之外，您的机构在每个数据集上的累计 ε 另有上限（跨全部授权）。",
                       "Smaller ε is safer. Besides the grant's total, your organization's ε on each dataset is "
                       "capped across all its grants."),
    "wb.budget_grant": ("本授权", "This grant"),
    "wb.budget_line": ("已用 ε {spent} / {total}，剩余 {left}", "ε spent {spent} of {total}, {left} left"),
    "wb.epsilon_range": ("每次查询默认 ε = {d}，可在 [{lo}, {hi}] 内指定。", "Default ε per query {d}; you may "
                         "choose one within [{lo}, {hi}]."),
    "wb.schema": ("授权的数据集", "Granted datasets"),
    "wb.schema_note": ("只显示元数据（列、角色、取值边界、公开取值），不显示任何数据。SQL 中以数据集名作表名，"
                       "中文列名须加双引号。", "Metadata only (columns, roles, bounds, public values), never data. "
                       "In SQL a dataset is the table of its name; quote Chinese column names in double quotes."),
    "wb.privacy_unit": ("隐私单元：{col}（每人最多计入 {n} 行）", "Privacy unit: {col} (at most {n} rows per "
                        "person count)"),
    "wb.no_privacy_unit": ("无隐私单元（一级数据，精确统计）", "No privacy unit (level-1 data, exact statistics)"),
    "wb.editor": ("SQL 查询", "SQL query"),
    "wb.editor_note": ("先试算查看花费与精度（不读数据、不扣预算），再执行；也可以先用合成数据熟悉表结构。",
                       "Dry-run first to see the cost and accuracy (no data read, nothing spent), then run; or try "
                       "the synthetic mock to learn the schema."),
    "wb.sql": ("SQL（只允许 SELECT）", "SQL (SELECT only)"),
    "wb.epsilon": ("本次 ε（留空用默认值）", "ε for this query (blank: default)"),
    "wb.dry_run": ("试算", "Dry run"),
    "wb.run": ("执行查询", "Run"),
    "wb.mock_dataset": ("合成数据", "Synthetic mock"),
    "wb.mock": ("查看合成数据", "Show mock rows"),
    "wb.refused": ("查询未能完成", "The query could not be completed"),
    "wb.refused.400": ("SQL 有误", "The SQL is malformed"),
    "wb.refused.403": ("查询被拒绝", "The query was refused"),
    "wb.refused.404": ("找不到", "Not found"),
    "wb.refused.409": ("隐私预算不足", "Not enough privacy budget"),
    "wb.refused.422": ("输入无效或查询失败", "Invalid input, or the query failed"),
    "wb.pending": ("查询 #{id} 已提交，等待安全管理员审批（四级数据）", "Query #{id} is held for the security "
                   "administrator's approval (level-4 data)"),
    "wb.pending_note": ("审批通过后即可取回结果，届时才扣除预算。",
                        "Once approved you can fetch the answer; the budget is charged then."),
    "wb.check_again": ("查看审批进度", "Check again"),
    "wb.held": ("待审批查询 #{id}", "Held query #{id}"),
    "wb.held_pending": ("仍在等待安全管理员审批。", "Still waiting for the security administrator."),
    "wb.held_approved": ("已批准：可以取回结果（首次取回时扣除预算）。", "Approved: fetch the answer (the budget is "
                         "charged the first time)."),
    "wb.held_answered": ("已答复：再次取回返回同一结果，不再扣除预算。", "Answered: fetching it again returns the same "
                         "answer at no charge."),
    "wb.held_rejected": ("已被驳回，不会执行。", "Rejected: it will not run."),
    "wb.get_answer": ("取回结果", "Get the answer"),
    "wb.status": ("状态", "Status"),
    "wb.status.pending": ("待审批", "pending"),
    "wb.status.approved": ("已批准", "approved"),
    "wb.status.answered": ("已答复", "answered"),
    "wb.status.rejected": ("已驳回", "rejected"),
    "wb.status.failed": ("失败", "failed"),
    "wb.level": ("数据级别", "Level"),
    "wb.asked_at": ("提交时间", "Asked at"),
    "wb.decided_by": ("审批人", "Decided by"),
    "wb.note": ("审批意见", "Note"),
    "wb.dry_title": ("试算结果（未读取数据，未扣预算）", "Dry run (no data read, nothing spent)"),
    "wb.dry_note": ("噪声尺度和 95% 区间只由公开参数（ε、取值边界、每人行数上限）算出。", "Noise scales and 95% "
                    "intervals come from public parameters only (ε, bounds, rows per person)."),
    "wb.datasets": ("数据集", "Datasets"),
    "wb.mechanism": ("发布方式", "Mechanism"),
    "wb.epsilon_query": ("本次查询 ε", "ε of this query"),
    "wb.would_charge": ("将扣除 ε", "Would charge ε"),
    "wb.answered_before": ("相同查询已答复过，不再扣除", "asked before: no charge"),
    "wb.epsilon_left": ("授权剩余 ε", "ε left on the grant"),
    "wb.epsilon_spent": ("本次扣除 ε", "ε spent"),
    "wb.k": ("每格最少个体数 k", "Minimum people per cell (k)"),
    "wb.contribution_bound": ("每人最多计入行数", "Rows per person (bound)"),
    "wb.min_group": ("最小组规模（按噪声计数）", "Minimum group size (on a noisy count)"),
    "wb.needs_approval": ("涉及四级数据：执行后须经安全管理员审批才会返回结果。", "Level-4 data: when run, the query "
                          "waits for the security administrator's approval."),
    "wb.split": ("ε = {eps} 的分配与各项噪声", "How ε = {eps} is split, and the noise of each part"),
    "wb.output": ("输出列", "Output"),
    "wb.measure": ("度量", "Measure"),
    "wb.noise_scale": ("噪声尺度", "Noise scale"),
    "wb.ci95": ("95% 区间（±）", "95% interval (±)"),
    "wb.partition_selection": ("分组经差分隐私筛选后发布（阈值 {t}）", "Groups released by DP partition selection "
                               "(threshold {t})"),
    "wb.result": ("查询结果", "Result"),
    "wb.n_rows": ("{n} 行", "{n} rows"),
    "wb.no_rows": ("没有可发布的行。", "No releasable rows."),
    "wb.null_note": ("“空”表示该组的噪声计数低于最小组规模（{n}），该组的这个值不发布。",
                     "“null”: the group's noisy count fell below the minimum group size ({n}), so this value "
                     "is not released."),
    "wb.chart": ("{y}（按 {x}）", "{y} by {x}"),
    "wb.receipt": ("放行回执", "Release receipt"),
    "wb.from_store": ("复用已答复结果，未扣预算", "stored answer, not charged"),
    "wb.mock_title": ("合成数据：{name}", "Synthetic mock: {name}"),
    "wb.synthetic": ("合成数据，非真实数据", "synthetic, not real data"),
    "wb.mock_note": ("以下 {n} 行是只根据元数据（类型、取值边界、公开取值）生成的合成数据，不含任何真实记录，"
                     "仅供编写和调试查询。", "These {n} rows are synthetic, generated from metadata only (types, "
                     "bounds, public values); they contain no real record and are only for writing and testing "
                     "queries."),
    "wb.history": ("查询历史", "Query history"),
    "wb.releases": ("最近放行的结果", "Recent answers"),
    "wb.held_queries": ("审批中的查询（四级数据）", "Held queries (level-4 data)"),
    "wb.no_held": ("没有需要审批的查询。", "No held queries."),
    "mech.dp": ("差分隐私（OpenDP 噪声）", "differential privacy (OpenDP noise)"),
    "mech.exact": ("精确统计（一级数据）", "exact statistics (level 1)"),
    "mech.threshold": ("精确统计，每格至少 k 个个体（二级数据）", "exact statistics, at least k people per cell "
                       "(level 2)"),
    "mech.masked_rows": ("脱敏后的逐行结果", "de-identified rows"),
    "measure.count": ("计数", "count"),
    "measure.sum": ("求和", "sum"),
    "measure.quantile": ("分位数", "quantile"),
    "measure.selection": ("分组筛选", "partition selection"),
    # --- query approvals (security admin) ----------------------------------------------------
    "appr.title": ("四级数据查询审批", "Level-4 query approvals"),
    "appr.intro": ("四级数据的每次查询都须经安全管理员批准；批准只对这条 SQL、这个 ε 有效，执行时再次核对预算。",
                   "Every query on level-4 data needs the security administrator's approval; it holds for this SQL "
                   "and this ε only, and the budget is checked again when it runs."),
    "appr.pending": ("待审批", "Pending"),
    "appr.query": ("查询 #{id}", "Query #{id}"),
    "appr.note": ("审批意见（可选）", "Note (optional)"),
    "appr.approve": ("批准", "Approve"),
    "appr.reject": ("驳回", "Reject"),
    "appr.none": ("没有待审批的查询。", "No queries are waiting."),
    "appr.refused": ("查询 #{id} 的审批未能完成", "The decision on query #{id} could not be made"),
    "appr.err.decision": ("请选择批准或驳回", "choose approve or reject"),
    "ok.query_approved": ("已批准，申请人现在可以取回结果。", "Approved: the analyst can now fetch the answer."),
    "ok.query_rejected": ("已驳回。", "Rejected."),
    # --- proposals (operator staff propose, the provider or the security admin decides) --------
    "btn.propose": ("提议", "Propose"),
    "propose.hint": ("放宽保护的更改（降低级别、列不再作为标识列、识别为直接标识符的列改作其他角色、"
                     "放宽边界、增加公开取值、较弱的脱敏策略）须由数据提供部门（本单位数据）或安全管理员决定："
                     "您提交的是提议，决定前不生效。"
                     "收紧保护的更改立即生效。",
                     "Changes that relax protection (a lower level, a column leaving the identifier role, another role "
                     "for a column detected as a direct identifier, wider bounds, added public values, a weaker "
                     "masking policy) are decided by the providing department (own data) or the security "
                     "administrator: you submit a proposal, which has no effect until it is accepted. Changes that "
                     "tighten protection apply at once."),
    "field.proposal_reason": ("提议理由", "Reason for the proposal"),
    "ok.proposed": ("已提交提议，须由数据提供部门或安全管理员决定后才生效。",
                    "The proposal was submitted; it takes effect only when the provider or the security "
                    "administrator accepts it."),
    "ok.proposal_accepted": ("已采纳提议，更改已生效，并已记入操作日志。",
                             "The proposal was accepted; the change is in force and recorded."),
    "ok.proposal_rejected": ("已驳回提议，未作任何更改。", "The proposal was rejected; nothing was changed."),
    "proposals.title": ("待决定的提议", "Proposals awaiting a decision"),
    "proposals.intro": ("数据加工处理人员提出的放宽保护的更改，采纳或驳回均须写明依据。",
                        "Changes that relax protection, proposed by operator staff; accepting or rejecting one needs "
                        "its basis."),
    "proposals.none": ("没有待决定的提议。", "No proposals are waiting."),
    "proposals.field": ("事项", "Field"),
    "proposals.before": ("现行", "In force"),
    "proposals.value": ("提议为", "Proposed"),
    "proposals.by": ("提议人 / 时间", "Proposed by / at"),
    "proposals.reason": ("理由", "Reason"),
    "proposals.basis": ("决定依据", "Basis of the decision"),
    "proposals.accept": ("采纳", "Accept"),
    "proposals.reject": ("驳回", "Reject"),
    "proposals.waiting": ("等待数据提供部门或安全管理员决定", "Waiting for the provider or the security administrator"),
    "proposal.err.decision": ("请选择采纳或驳回", "choose accept or reject"),
    "dataset.proposed_level": ("待决定的提议级别（未生效）：", "Proposed level, awaiting a decision (not in force):"),
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
    "catalog.dataset.import": ("导入数据集", "dataset imported"),
    "catalog.dataset.scan": ("识别个人信息", "dataset scanned"),
    "catalog.dataset.set_level": ("确认数据级别", "level confirmed"),
    "catalog.dataset.flag_r28": ("标记不得开放运营", "flagged under R-28"),
    "catalog.dataset.column": ("列的决定", "column decision"),
    "catalog.dataset.destroy": ("销毁数据", "data destroyed"),
    "egress.preview.release": ("放行脱敏预览", "masked preview released"),
    "egress.stats.release": ("放行统计信息", "statistics released"),
    "system.demo.seed": ("载入演示数据", "demo data loaded"),
    "system.job.enqueue": ("提交后台任务", "job queued"),
    "egress.scenario.add": ("登记应用场景", "scenario registered"),
    "egress.grant.add": ("授权数据", "grant added"),
    "egress.grant.revoke": ("撤销授权", "grant revoked"),
    "egress.dataset.cap": ("设定数据集预算上限", "dataset budget cap set"),
    "egress.query.release": ("放行查询结果", "query answer released"),
    "cleanroom.query.hold": ("查询待审批", "query held for approval"),
    "cleanroom.query.approve": ("批准查询", "query approved"),
    "cleanroom.query.reject": ("驳回查询", "query rejected"),
    "cleanroom.query.fail": ("查询执行失败", "query failed"),
    "catalog.proposal.create": ("提出提议", "proposal made"),
    "catalog.proposal.accept": ("采纳提议", "proposal accepted"),
    "catalog.proposal.reject": ("驳回提议", "proposal rejected"),
    "cleanroom.query.alert": ("同一授权的查询反复失败", "repeated query failures on one grant"),
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


def _named(prefix: str, lang: str, value: str | None) -> str:
    """A name from the message table (`prefix.value`); an unknown value shows as itself."""
    if value is None:
        return ""
    pair = MESSAGES.get(f"{prefix}.{value}")
    return _pick(pair, lang) if pair else value


def pii_name(lang: str, pii_type: str | None) -> str:
    """The name of a detected personal-information type (居民身份证号码 for resident_id)."""
    return _named("pii", lang, pii_type)


def sector_name(lang: str, sector: str | None) -> str:
    return _named("sector", lang, sector)


def mask_op_name(lang: str, op: str | None) -> str:
    return _named("mask", lang, op)


def r28_name(lang: str, reason: str | None) -> str:
    return _named("r28", lang, reason)


def column_role_name(lang: str, role: str | None) -> str:
    return _named("role_col", lang, role)


def encoding_name(lang: str, encoding: str | None) -> str:
    return _named("encoding", lang, encoding)


def job_kind_name(lang: str, kind: str | None) -> str:
    return _named("job.kind", lang, kind)


def job_step_name(lang: str, step: str | None) -> str:
    return _named("job.step", lang, step)
