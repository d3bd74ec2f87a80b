-- orders never have a date in the future
select * from {{ ref('orders') }} where order_date > current_date
