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

{#- The position of a named stage on the main path (a compile-time number), or a clear error
    naming the var when the stage is not on it. -#}
{% macro stage_position(stage_name, var_name) -%}
    {%- set stages = var('funnel_stages') -%}
    {%- if stage_name not in stages -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ var_name ~ " = '" ~ stage_name ~ "' is not a stage of the funnel's main path "
            ~ "(var funnel_stages: " ~ stages | join(", ") ~ ")") }}
    {%- endif -%}
    {{ stages.index(stage_name) + 1 }}
{%- endmacro %}
