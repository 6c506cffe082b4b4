{#- dbt's own macro, overridden so that a test's `where` can name the run's window: an
    incremental run checks only the days it rebuilt, through the date index, instead of the
    whole book. `__min_date__` and `__max_date__` become the vars min_date and max_date
    (defaults: every day). A full refresh rebuilds every day, so it tests the whole relation,
    whatever the vars say. Rendered when the test runs, not when the project is parsed, so
    --full-refresh is seen even when the parse is reused. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where and ('__min_date__' in where or '__max_date__' in where) -%}
        {%- if flags.FULL_REFRESH -%}
            {%- set where = none -%}
        {%- else -%}
            {%- set where = where
                | replace('__min_date__', "date '" ~ var('min_date') ~ "'")
                | replace('__max_date__', "date '" ~ var('max_date') ~ "'") -%}
        {%- endif -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
