-- reserved for another change
SELECT 1;
