select
    c.id as customer_id,
    c.first_name,
    c.last_name,
    cc.country_name
from {{ source('shop_raw', 'customers') }} c
left join {{ ref('country_codes') }} cc on cc.code = c.country
