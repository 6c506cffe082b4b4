{#- The position of a stage on the funnel's main path (var funnel_stages); null off the path
    (closed_lost). -#}
{% macro stage_order(column) -%}
    case {{ column }}
    {%- for stage in var('funnel_stages') %}
        when '{{ stage }}' then {{ loop.index }}
    {%- endfor %}
    end
{%- endmacro %}

{#- Days between two timestamps, as a fraction. -#}
{% macro days_between(start_at, end_at) -%}
    extract(epoch from ({{ end_at }} - {{ start_at }})) / 86400.0
{%- endmacro %}

{#- The quoted list of the stages that count as a conversion. -#}
{% macro converted_stages_list() -%}
    {%- for stage in var('converted_stages') -%}
        '{{ stage }}'{{ ", " if not loop.last }}
    {%- endfor -%}
{%- endmacro %}
