-- Typical clean-room queries for bench/cleanroom_analysis.py (statements end with a semicolon).
-- Datasets (see the bench): pay3 and visits3 (level 3), pay2 (level 2), pay1 (level 1); columns
-- 人员编号 (privacy unit, join key), 区 (dimension, public values), 类别 (dimension), 日期 (date),
-- 金额 (measure, 0..100), 年龄 (measure, 0..120). A line `-- scenario: rows` runs the next query
-- under the grant that allows level-1 rows.

SELECT 区, COUNT(*) FROM pay3 GROUP BY 区;
SELECT 区, COUNT(*) AS n, AVG(金额) AS avg_amount FROM pay3 GROUP BY 区;
SELECT 区, SUM(金额) AS total FROM pay3 WHERE 年龄 >= 60 GROUP BY 区 ORDER BY 区;
SELECT 类别, COUNT(*) AS n FROM pay3 GROUP BY 类别;
SELECT 区, 类别, COUNT(*) AS n, AVG(年龄) AS avg_age FROM pay3 GROUP BY 区, 类别;
SELECT COUNT(*) AS n, AVG(金额) AS avg_amount, SUM(金额) AS total FROM pay3;
SELECT 区, MEDIAN(金额) AS median_amount FROM pay3 GROUP BY 区;
SELECT 区, COUNT(*) AS n FROM pay3 WHERE 类别 IN ('门诊', '住院') GROUP BY 区;
SELECT 区, COUNT(*) AS n FROM pay3 WHERE 金额 BETWEEN 10 AND 50 AND 年龄 < 40 GROUP BY 区 ORDER BY n DESC LIMIT 3;
SELECT YEAR(日期) AS y, COUNT(*) AS n FROM pay3 GROUP BY YEAR(日期);
SELECT DATE_TRUNC('month', 日期) AS m, COUNT(*) AS n, AVG(金额) AS avg_amount FROM pay3 GROUP BY 1 ORDER BY 1;
SELECT 区, COUNT(*) AS n FROM pay3 WHERE 日期 >= '2025-01-01' GROUP BY 区;
SELECT 区, COUNT(金额) AS n FROM pay3 WHERE 金额 IS NOT NULL GROUP BY 区;
SELECT 区, SUM(金额) AS total, AVG(年龄) AS avg_age, COUNT(*) AS n FROM pay3
  WHERE 类别 = '门诊' AND 年龄 BETWEEN 18 AND 65 GROUP BY 区 ORDER BY 区;
SELECT 区, QUANTILE_CONT(年龄, 0.9) AS p90_age FROM pay3 GROUP BY 区;
SELECT a.区, COUNT(*) AS n, AVG(b.金额) AS avg_visit FROM pay3 a JOIN visits3 b ON a.人员编号 = b.人员编号 GROUP BY a.区;
SELECT a.类别, SUM(b.金额) AS total FROM pay3 AS a JOIN visits3 AS b ON a.人员编号 = b.人员编号
  WHERE a.年龄 >= 30 GROUP BY a.类别;
SELECT 区, COUNT(*) AS n, SUM(金额) AS total FROM pay2 GROUP BY 区;
SELECT 区, 类别, COUNT(*) AS n FROM pay2 WHERE 类别 <> '药店' GROUP BY 区, 类别;
SELECT 区, AVG(金额) AS avg_amount FROM pay2 WHERE 类别 = '门诊' GROUP BY 区 ORDER BY avg_amount DESC;
SELECT 类别, COUNT(*) AS n, AVG(年龄) AS avg_age FROM pay1 GROUP BY 类别;
SELECT 区, SUM(金额) AS total, COUNT(*) AS n FROM pay1 WHERE 日期 < '2025-01-01' GROUP BY 区;
-- scenario: rows
SELECT 区, 类别, 金额 FROM pay1 WHERE 金额 > 90 LIMIT 50;
-- scenario: rows
SELECT 区, 日期, 年龄 FROM pay1 WHERE 类别 = '住院' AND 年龄 BETWEEN 60 AND 70 ORDER BY 日期 LIMIT 100;
