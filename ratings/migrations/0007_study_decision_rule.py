# The study's decision rule for anytime-valid stopping: "best
# configuration" or "one configuration against another", with its confidence.

import django.db.models.deletion
import generation.validation
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('generation', '0003_scores'),
        ('ratings', '0006_vote_tally'),
    ]

    operations = [
        migrations.AddField(
            model_name='study',
            name='decision_a',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='generation.generationconfig'),
        ),
        migrations.AddField(
            model_name='study',
            name='decision_b',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='generation.generationconfig'),
        ),
        migrations.AddField(
            model_name='study',
            name='decision_confidence',
            field=models.FloatField(default=0.95, help_text='Chance that a decision shown is right, however often the page is checked.', validators=[generation.validation.InRange(0.5, 0.999, 'Decision confidence must be between 0.5 and 0.999.')]),
        ),
        migrations.AddField(
            model_name='study',
            name='decision_rule',
            field=models.CharField(choices=[('none', 'No decision rule'), ('best', 'Best configuration'), ('pair', 'One configuration against another')], default='best', help_text='What the dashboard decides, per criterion, as votes arrive.', max_length=8),
        ),
        migrations.AddConstraint(
            model_name='study',
            constraint=models.CheckConstraint(condition=models.Q(('decision_confidence__gte', 0.5), ('decision_confidence__lte', 0.999)), name='study_decision_confidence_range'),
        ),
    ]
