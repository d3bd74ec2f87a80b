with orders as (select * from {{ ref('stg_orders') }}),
customers as (select * from {{ ref('stg_customers') }})
select
    customers.customer_id,
    customers.first_name,
    count(orders.order_id) as number_of_orders
from customers
left join orders using (customer_id)
group by 1, 2
