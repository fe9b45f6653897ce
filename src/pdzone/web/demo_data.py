"""Demo datasets (synthetic, deterministic, valid check digits, Chinese column names).

* enterprise_registry (企业登记信息, level 1): USCC, name, legal representative, address, capital
* social_insurance (社会保险缴费, level 3): resident ID, name, month, base, paid amount
* transit_trips (公共交通刷卡出行, level 2): card number, stations, times, fare
* health_visits (门诊就诊记录, level 4): resident ID, name, mobile, diagnosis, cost
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from faker import Faker
from stdnum import luhn
from stdnum.cn import ric

DISTRICTS = ["东城区", "西城区", "朝阳区", "海淀区", "丰台区", "石景山区", "通州区", "昌平区", "大兴区", "顺义区"]
DISTRICT_CODES = ["110101", "110102", "110105", "110108", "110106", "110107", "110112", "110114", "110115", "110113"]
STATIONS = ["西直门", "国贸", "中关村", "望京", "北京西站", "天安门东", "五道口", "回龙观", "宋家庄", "东直门"]
DIAGNOSES = ["上呼吸道感染", "高血压", "2型糖尿病", "腰椎间盘突出", "胃炎", "过敏性鼻炎"]


def _id_number(fake: Faker, born: dt.date | None = None) -> str:
    born = born or fake.date_of_birth(minimum_age=18, maximum_age=80)
    partial = f"{fake.random_element(DISTRICT_CODES)}{born:%Y%m%d}{fake.random_int(0, 999):03d}0"
    return partial[:-1] + ric.calc_check_digit(partial)


def _card(fake: Faker) -> str:
    partial = "6217" + "".join(str(fake.random_digit()) for _ in range(14)) + "0"
    return partial[:-1] + luhn.calc_check_digit(partial[:-1])


def _address(fake: Faker) -> str:
    return f"北京市{fake.random_element(DISTRICTS)}{fake.street_name()}{fake.random_int(1, 300)}号"


def write_demo_files(directory: Path, *, rows: int = 2000, seed: int = 20261127) -> dict[str, Path]:
    """Write the demo CSV files (UTF-8, one GBK as departments often send) and return their paths."""
    from pdzone.web.demo import make_uscc

    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    directory.mkdir(parents=True, exist_ok=True)
    people = [(fake.name(), _id_number(fake), fake.phone_number()) for _ in range(max(50, rows // 4))]
    files = {}

    def write(name: str, header: list[str], data: list[list], encoding: str = "utf-8") -> None:
        path = directory / f"{name}.csv"
        with path.open("w", encoding=encoding, newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(data)
        files[name] = path

    write("enterprise_registry",
          ["统一社会信用代码", "企业名称", "法定代表人", "注册地址", "注册资本（万元）", "成立日期", "所属区"],
          [[make_uscc(fake), fake.company(), fake.name(), _address(fake), fake.random_int(10, 50000),
            fake.date_between(dt.date(1995, 1, 1), dt.date(2025, 12, 31)).isoformat(), fake.random_element(DISTRICTS)]
           for _ in range(rows // 2)])
    write("social_insurance", ["身份证号", "姓名", "缴费月份", "缴费基数", "个人缴费额", "参保区"],
          [[pid, name, f"2025-{fake.random_int(1, 12):02d}", base, round(base * 0.08, 2),
            fake.random_element(DISTRICTS)]
           for name, pid, _ in (fake.random_element(people) for _ in range(rows))
           for base in [fake.random_int(6326, 35283)]], encoding="gbk")
    write("transit_trips", ["卡号", "进站", "出站", "进站时间", "票价（元）"],
          [[_card(fake), fake.random_element(STATIONS), fake.random_element(STATIONS),
            fake.date_time_between(dt.datetime(2025, 11, 1), dt.datetime(2025, 11, 30)).isoformat(sep=" "),
            fake.random_element([3, 4, 5, 6, 7])] for _ in range(rows)])
    write("health_visits", ["身份证号", "姓名", "手机号", "就诊日期", "诊断", "费用（元）", "住址"],
          [[pid, name, phone, fake.date_between(dt.date(2025, 1, 1), dt.date(2025, 11, 30)).isoformat(),
            fake.random_element(DIAGNOSES), round(fake.pyfloat(min_value=20, max_value=3000), 2), _address(fake)]
           for name, pid, phone in (fake.random_element(people) for _ in range(rows // 2))])
    return files


DEMO_DATASETS = [  # name, zone, provider, title, level, basis, privacy unit
    ("enterprise_registry", "bj_comprehensive", "北京市市场监督管理局", "企业登记信息", 1,
     "企业登记公示信息（DB11/T 1918 一级）", None),
    ("social_insurance", "bj_comprehensive", "北京市市场监督管理局", "社会保险缴费记录", 3,
     "含身份证号等个人敏感信息（三级）", "身份证号"),
    ("transit_trips", "bj_transport", "北京市公安局公安交通管理局", "公共交通刷卡出行记录", 2,
     "以卡号关联的出行轨迹（二级）", "卡号"),
    ("health_visits", "bj_comprehensive", "北京市市场监督管理局", "门诊就诊记录", 4,
     "含健康医疗信息（四级）", "身份证号"),
]


MONTHS = [f"2025-{m:02d}" for m in range(1, 13)]

# DP metadata from policy and public code lists, never from the data: GB/T 2260 districts, the 2025
# Beijing social-insurance base range (6,326-35,283 yuan), the fare table, the diagnosis code list.
CLEANROOM_COLUMNS = {  # dataset: (rows per person L, [(column, role, bounds, public values, basis)])
    "social_insurance": (12, [
        ("身份证号", "identifier", None, None, "直接标识符"),
        ("姓名", "identifier", None, None, "直接标识符"),
        ("参保区", "dimension", None, DISTRICTS, "GB/T 2260 北京市辖区"),
        ("缴费月份", "dimension", None, MONTHS, "2025 年缴费月份"),
        ("缴费基数", "measure", (6326.0, 35283.0), None, "2025 年北京市社保缴费基数上下限（政策）"),
        ("个人缴费额", "measure", (0.0, 2823.0), None, "缴费基数上限 × 8%（政策）"),
    ]),
    "enterprise_registry": (None, [
        ("统一社会信用代码", "identifier", None, None, "直接标识符"),
        ("所属区", "dimension", None, DISTRICTS, "GB/T 2260 北京市辖区"),
        ("注册资本（万元）", "measure", (0.0, 100000.0), None, "登记规则"),
    ]),
    "transit_trips": (None, [
        ("卡号", "identifier", None, None, "直接标识符"),
        ("进站", "dimension", None, STATIONS, "线网站点表"),
        ("出站", "dimension", None, STATIONS, "线网站点表"),
        ("票价（元）", "measure", (2.0, 10.0), None, "票价表"),
    ]),
    "health_visits": (20, [
        ("身份证号", "identifier", None, None, "直接标识符"),
        ("姓名", "identifier", None, None, "直接标识符"),
        ("手机号", "identifier", None, None, "直接标识符"),
        ("诊断", "dimension", None, DIAGNOSES, "诊断编码表"),
        ("费用（元）", "measure", (0.0, 5000.0), None, "门诊费用上限（政策）"),
    ]),
}

CLEANROOM_SCENARIOS = [  # zone, code, name, category, description
    ("bj_comprehensive", "inclusive_credit", "普惠金融信用评估", "industry",
     "以社保缴费、企业登记信息评估小微企业与个人信用，服务普惠金融"),
    ("bj_comprehensive",
     "enterprise_due_diligence", "企业尽职调查", "industry", "查询企业登记公示信息（一级，脱敏后逐行）"),
    ("bj_transport", "commute_planning", "通勤出行规划", "public_interest", "分析站点间通勤客流，优化公交线网"),
]

CLEANROOM_GRANTS = [  # partner, scenario, datasets, ε total (and per-dataset cap), default ε per query, forms
    ("北京普惠征信服务有限公司", "inclusive_credit", ["social_insurance", "enterprise_registry", "health_visits"],
     "20", "1", ["aggregate"]),
    ("北京普惠征信服务有限公司", "enterprise_due_diligence", ["enterprise_registry"], "20", "1", ["aggregate", "rows"]),
    ("北京智慧出行科技有限公司", "commute_planning", ["transit_trips"], "20", "1", ["aggregate"]),
]

# Level 2: exact answers only through templates the security admin reviewed for a grant, each with its
# differencing risk noted. Ad-hoc queries on transit_trips are DP answers.
CLEANROOM_TEMPLATES = [  # partner, scenario, SQL, risk note
    ("北京智慧出行科技有限公司", "commute_planning",
     'SELECT "进站", COUNT(*) AS n FROM transit_trips GROUP BY "进站"',
     "按进站站点的全量客流，唯一模板；站点为公开线网站点，无筛选条件，不存在只差一人的两个模板分组"),
]
