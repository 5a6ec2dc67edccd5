"""The gateway's field labels and the Chinese for its own messages (problems answer in Chinese by default)."""

FIELD_LABELS = {
    "username": "用户名", "password": "密码", "display_name": "姓名", "phone": "手机号", "role": "角色",
    "region_code": "辖区代码", "region": "辖区", "active": "是否启用", "grant_type": "授权方式",
    "client_id": "客户端编号", "client_secret": "客户端密钥", "refresh_token": "刷新令牌", "bank_name": "银行名称",
    "bank_code": "银行代码", "name": "名称", "scope": "权限范围",
}

MESSAGES_ZH = {
    "Wrong username or password": "用户名或密码不对",
    "Unknown client or wrong secret": "client_id 或 client_secret 不对",
    "Unknown refresh token": "刷新令牌无效",
    "Refresh token has expired": "刷新令牌已过期，请重新登录",
    "The client is no longer active": "该合作银行接入已停用",
    "The account is no longer active": "该账号已停用",
    "Malformed Basic credentials": "Basic 认证信息格式不对",
    "username and password are required": "须填写用户名和密码",
    "client_id and client_secret are required": "须提供 client_id 和 client_secret",
    "refresh_token is required": "须提供 refresh_token",
    "grant_type is required": "须指定 grant_type",
    "No such user": "没有这个用户（或不在您的辖区内）",
    "Your role may not list users": "您的角色无权查看用户列表",
    "You may not change this user": "您无权修改这个用户",
    "You may create only users of a lower role inside your own region": "只能在本辖区内创建比自己级别低的用户",
    "A bank client's region must lie inside your own": "合作银行的辖区须在您的辖区之内",
    "region must be a 12-digit division code": "辖区须为 12 位行政区划代码",
    "password must not be only digits": "密码不能全是数字",
    "password must not start or end with spaces or contain control characters": "密码首尾不能有空格，也不能含控制字符",
    "not a staff role": "不是工作人员的角色",
}

PATTERNS_ZH = (
    (r"^password must have at least (\d+) characters$", "密码至少 {0} 个字符"),
    (r"^grant_type '(.*)' is not supported$", "不支持授权方式 {0}"),
    (r"^The (\w+) service did not answer in time$", "{0} 服务未能及时应答，请稍后重试"),
    (r"^The (\w+) service is unavailable$", "{0} 服务暂不可用，请稍后重试"),
    (r"^Refresh token was already used", "刷新令牌已被使用过，相关登录已全部注销，请重新登录"),
    (r"^username (.+) is taken$", "用户名 {0} 已被使用"),
    (r"^role (\w+) is not for people$", "角色 {0} 不能分配给个人"),
    (r"^Too many failed sign-in attempts; try again in (\d+) seconds$", "登录失败次数过多，请 {0} 秒后再试"),
)
